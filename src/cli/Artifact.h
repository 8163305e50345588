// What `leip run` and `leip benchmark` share: --input arguments, and compiled artifacts
// (DIR/modelLibrary.so + DIR/model_schema.json), loaded through include/leip/runtime.hpp.
#pragma once

#include "leip/ir/Tensor.h"
#include "leip/runtime.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace leip::cli {

/// Maps each input name to the .npy that feeds it, from "NAME=path" or plain "path"
/// arguments (plain paths fill the inputs in order). Every input must get a file.
std::map<std::string, std::string> assignInputs(const std::vector<std::string> &args,
                                                const std::vector<std::string> &names);

/// True when `path` is a directory meant as a compiled artifact (as opposed to an .onnx file,
/// or a `leip compress` output directory, which holds model.onnx and no library).
bool isArtifactDirectory(const std::string &path);

/// Loads DIR/modelLibrary.so. A directory that is not an artifact, or a library that does
/// not load here (another architecture, an older ABI), is a BadInputError naming it.
std::unique_ptr<runtime::Model> loadArtifact(const std::string &dir);

/// The runtime's element type numbering (leip_dtype) for an IR dtype, and back.
int32_t toRuntimeDType(ir::DType dtype);
ir::DType fromRuntimeDType(int32_t dtype, const std::string &what);

/// Checks `tensor` against input `index` of the compiled model (dtype and shape, by the
/// runtime's own check); a mismatch is a BadInputError: "<source>: input 'x' has shape ...".
void checkArtifactInput(const runtime::Model &model, size_t index, const ir::Tensor &tensor,
                        const std::string &source);

/// Runs the model's own context on `inputs` (already checked), returning its outputs as tensors.
std::vector<ir::Tensor> runArtifact(runtime::Model &model, const std::vector<ir::Tensor> &inputs);

} // namespace leip::cli
