// Lowering of ConvTranspose (kernels/ConvTranspose.cpp).
#include "../Lowering.h"

namespace leip::codegen {

void addConvTransposeLowerings(LoweringRules &rules) { (void)rules; }

} // namespace leip::codegen
