// Lowering of reductions: Reduce*, ArgMax/ArgMin, CumSum (kernels/Reduce.cpp).
#include "../Lowering.h"

namespace leip::codegen {

void addReduceLowerings(LoweringRules &rules) { (void)rules; }

} // namespace leip::codegen
