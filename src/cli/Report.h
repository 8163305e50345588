// report.html: the page `leip optimize` writes next to results.json, readable in any browser
// without a server or the network (inline CSS and SVG, no scripts): the verdict, the fp32 vs
// optimized table (accuracy, latency, size, ratios), the thresholds, and an SVG bar chart
// of the per-layer SQNR of the compress report when the model was quantized.
#pragma once

#include "Steps.h"

#include <string>

namespace leip::cli {

/// Text as HTML text or attribute value: & < > " ' escaped.
std::string htmlEscape(const std::string &text);

/// The page for optimize's results.json and the compress report (null when the recipe does
/// not quantize). Numbers are printed as the summary prints them: top-1 with two decimals
/// (percent), latency with three (ms), sizes in bytes, ratios with two; SQNR with one (dB).
std::string renderReport(const OrderedJson &results, const OrderedJson &compressReport);

} // namespace leip::cli
