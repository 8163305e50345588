# leip_add_library(NAME SOURCES ... DEPS ...): one static library per src/ folder, named
# leip_NAME, with the shared include/ tree public and the project's warning flags.
function(leip_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(leip_${name} STATIC ${ARG_SOURCES})
  target_include_directories(leip_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(leip_${name} PUBLIC ${ARG_DEPS})
  leip_set_warnings(leip_${name})
endfunction()

function(leip_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()
