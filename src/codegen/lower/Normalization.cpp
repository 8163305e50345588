// Lowering of normalizations: BatchNormalization (unfused), InstanceNormalization, LayerNormalization, LRN, ... (kernels/Normalization.cpp).
#include "../Lowering.h"

namespace leip::codegen {

void addNormalizationLowerings(LoweringRules &rules) { (void)rules; }

} // namespace leip::codegen
