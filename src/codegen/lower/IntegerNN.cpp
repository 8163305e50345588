// Lowering of IntegerNN (kernels/IntegerNN.cpp).
#include "../Lowering.h"

namespace leip::codegen {

void addIntegerNNLowerings(LoweringRules &rules) { (void)rules; }

} // namespace leip::codegen
