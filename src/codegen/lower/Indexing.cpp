// Lowering of indexing: Gather*, Scatter*, OneHot, TopK, Trilu (kernels/Indexing.cpp).
#include "../Lowering.h"

namespace leip::codegen {

void addIndexingLowerings(LoweringRules &rules) { (void)rules; }

} // namespace leip::codegen
