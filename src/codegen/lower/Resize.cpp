// Lowering of Resize and Upsample (kernels/Resize.cpp).
#include "../Lowering.h"

namespace leip::codegen {

void addResizeLowerings(LoweringRules &rules) { (void)rules; }

} // namespace leip::codegen
