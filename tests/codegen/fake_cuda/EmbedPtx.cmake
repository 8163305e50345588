# cmake -DIN=kernels.ptx -DOUT=kernels.ptx.inc -P EmbedPtx.cmake: the PTX text as one C++
# raw string literal, for TestModel.cpp to #include where a literal goes.
file(READ ${IN} text)
file(WRITE ${OUT} "R\"leip_ptx(${text})leip_ptx\"\n")
