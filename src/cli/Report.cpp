// report.html (Report.h): one string built from results.json and the compress report.
// Every piece of text from the files goes through htmlEscape; numbers are formatted here.
#include "Report.h"

#include "ModelInfo.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

namespace leip::cli {

namespace {

using Json = OrderedJson;

std::optional<double> number(const Json &j) {
  if (!j.is_number()) return std::nullopt;
  double v = j.get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::string format(const char *fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string text(const Json &j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  return j.dump();
}

std::string cell(const std::optional<double> &v, const char *fmt, const char *unit = "") {
  return v ? format(fmt, *v) + unit : "<span class=\"na\">n/a</span>";
}

const char *kStyle = R"(body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1d2330;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d8dce4;padding-bottom:.2em}
.meta{color:#5a6272;font-size:.9em}.meta code{font-size:.95em}
.verdict{display:inline-block;padding:.3em .9em;border-radius:4px;font-weight:600;margin:.6em 0}
.pass{background:#dff3e4;color:#17612e}.fail{background:#fbe0e0;color:#9b1c1c}.unchecked{background:#eef0f4;color:#4a5160}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d8dce4;padding:.35em .8em;text-align:right}th{background:#f3f5f8}
td:first-child,th:first-child{text-align:left}.na{color:#9aa1ad}.note{text-align:left;color:#5a6272;max-width:40em}
svg{font-family:inherit}svg text{font-size:11px;fill:#1d2330}.bar{fill:#4a78c2}.low{fill:#d9822b}
.axis{stroke:#9aa1ad;stroke-width:1}.grid{stroke:#e4e7ec;stroke-width:1})";

/// One SVG bar per layer of the compress report: its SQNR in dB (horizontal bars, one row
/// each, the node name on the left); layers under 20 dB are drawn in another colour.
std::string sqnrChart(const Json &layers) {
  const int rowH = 18, labelW = 330, plotW = 560, valueW = 60, top = 24, bottom = 28;
  const int n = static_cast<int>(layers.size());
  double maxDb = 10;
  for (const Json &l : layers)
    if (auto v = number(l.value("sqnr_db", Json()))) maxDb = std::max(maxDb, *v);
  maxDb = std::ceil(maxDb / 10) * 10;
  const int width = labelW + plotW + valueW, height = top + n * rowH + bottom;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(height) + "\" role=\"img\" aria-label=\"per-layer SQNR in dB\">\n";
  for (double tick = 0; tick <= maxDb + 1e-9; tick += 10) {
    const double x = labelW + tick / maxDb * plotW;
    svg += "<line class=\"grid\" x1=\"" + format("%.1f", x) + "\" y1=\"" + std::to_string(top - 4) + "\" x2=\"" +
           format("%.1f", x) + "\" y2=\"" + std::to_string(top + n * rowH) + "\"/>";
    svg += "<text x=\"" + format("%.1f", x) + "\" y=\"" + std::to_string(top + n * rowH + 14) +
           "\" text-anchor=\"middle\">" + format("%.0f", tick) + "</text>\n";
  }
  svg += "<text x=\"" + std::to_string(labelW + plotW / 2) + "\" y=\"" + std::to_string(height - 2) +
         "\" text-anchor=\"middle\">SQNR (dB) of each layer's output against fp32</text>\n";
  for (int i = 0; i < n; ++i) {
    const Json &l = layers[i];
    const std::string name = text(l.value("node", Json())), op = text(l.value("op", Json()));
    const std::optional<double> db = number(l.value("sqnr_db", Json()));
    const double w = db ? std::max(0.0, *db) / maxDb * plotW : 0;
    const int y = top + i * rowH;
    std::string label = name.size() > 52 ? "\xE2\x80\xA6" + name.substr(name.size() - 51) : name;
    svg += "<text x=\"" + std::to_string(labelW - 6) + "\" y=\"" + std::to_string(y + rowH - 5) +
           "\" text-anchor=\"end\">" + htmlEscape(label) + "</text>";
    svg += "<rect class=\"bar" + std::string(db && *db < 20 ? " low" : "") + "\" x=\"" + std::to_string(labelW) +
           "\" y=\"" + std::to_string(y + 2) + "\" width=\"" + format("%.1f", w) + "\" height=\"" +
           std::to_string(rowH - 4) + "\" data-layer=\"" + htmlEscape(name) + "\"><title>" + htmlEscape(name) +
           " (" + htmlEscape(op) + "): " + (db ? format("%.1f", *db) + " dB" : "n/a") + "</title></rect>";
    svg += "<text x=\"" + format("%.1f", labelW + w + 4) + "\" y=\"" + std::to_string(y + rowH - 5) + "\">" +
           (db ? format("%.1f", *db) : std::string("n/a")) + "</text>\n";
  }
  svg += "<line class=\"axis\" x1=\"" + std::to_string(labelW) + "\" y1=\"" + std::to_string(top - 4) + "\" x2=\"" +
         std::to_string(labelW) + "\" y2=\"" + std::to_string(top + n * rowH) + "\"/>\n</svg>\n";
  return svg;
}

} // namespace

std::string htmlEscape(const std::string &s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string renderReport(const Json &results, const Json &compressReport) {
  const Json &fp32 = results["fp32"], &opt = results["optimized"];
  auto latency = [](const Json &side, const char *key) {
    return side["latency_ms"].is_object() ? number(side["latency_ms"][key]) : std::nullopt;
  };
  const bool passed = results.value("passed", true);
  bool anyChecked = false;
  for (const Json &t : results["thresholds"]) anyChecked = anyChecked || t["passed"].is_boolean();

  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>leip optimize: " +
                  htmlEscape(text(results["recipe"])) + "</title>\n<style>\n" + kStyle + "\n</style>\n</head>\n<body>\n";
  h += "<h1>leip optimize: recipe " + htmlEscape(text(results["recipe"])) + "</h1>\n";
  h += "<p class=\"meta\">model <code>" + htmlEscape(text(results["model"])) + "</code><br>output <code>" +
       htmlEscape(text(results["output"])) + "</code><br>target " + htmlEscape(text(results["target"])) +
       ", data type " + htmlEscape(text(results["data_type"])) + ", " + htmlEscape(text(results["threads"])) +
       " thread(s)</p>\n";
  if (!passed)
    h += "<div class=\"verdict fail\">FAILED: a threshold of the recipe failed</div>\n";
  else if (anyChecked)
    h += "<div class=\"verdict pass\">PASSED: every threshold checked holds</div>\n";
  else
    h += "<div class=\"verdict unchecked\">no threshold checked</div>\n";

  h += "<h2>fp32 vs optimized</h2>\n<table id=\"comparison\">\n<tr><th></th><th>fp32</th><th>optimized</th>"
       "<th>optimized / fp32</th></tr>\n";
  const std::optional<double> t1a = number(fp32["top1"]), t1b = number(opt["top1"]);
  h += "<tr><td>top-1 (%)</td><td>" + cell(t1a, "%.2f") + "</td><td>" + cell(t1b, "%.2f") + "</td><td>" +
       (t1a && t1b ? format("%+.2f points", *t1b - *t1a) : "<span class=\"na\">n/a</span>") + "</td></tr>\n";
  if (number(opt["top5"]))
    h += "<tr><td>top-5 (%)</td><td>" + cell(number(fp32["top5"]), "%.2f") + "</td><td>" +
         cell(number(opt["top5"]), "%.2f") + "</td><td></td></tr>\n";
  h += "<tr><td>latency, median (ms)</td><td>" + cell(latency(fp32, "median"), "%.3f") + "</td><td>" +
       cell(latency(opt, "median"), "%.3f") + "</td><td>" + cell(number(results["ratios"]["latency"]), "%.2f", "x") +
       "</td></tr>\n";
  h += "<tr><td>latency, p90 (ms)</td><td>" + cell(latency(fp32, "p90"), "%.3f") + "</td><td>" +
       cell(latency(opt, "p90"), "%.3f") + "</td><td></td></tr>\n";
  const std::optional<double> sa = number(fp32["size_bytes"]), sb = number(opt["size_bytes"]);
  h += "<tr><td>library size (bytes)</td><td>" + cell(sa, "%.0f") + (sa ? " (" + humanBytes(*sa) + ")" : "") +
       "</td><td>" + cell(sb, "%.0f") + (sb ? " (" + humanBytes(*sb) + ")" : "") + "</td><td>" +
       cell(number(results["ratios"]["size"]), "%.2f", "x") + "</td></tr>\n";
  if (number(opt["items"]))
    h += "<tr><td>test items</td><td>" + cell(number(fp32["items"]), "%.0f") + "</td><td>" +
         cell(number(opt["items"]), "%.0f") + "</td><td></td></tr>\n";
  h += "</table>\n";
  if (!results.value("measured_here", true))
    h += "<p class=\"meta\">Not measured on this machine: " + htmlEscape(text(results["not_measured_because"])) +
         "; the accuracy is the reference interpreter's.</p>\n";

  h += "<h2>Thresholds</h2>\n";
  if (results["thresholds"].empty()) {
    h += "<p class=\"meta\">The recipe sets none (evaluate.thresholds).</p>\n";
  } else {
    h += "<table id=\"thresholds\">\n<tr><th>threshold</th><th>limit</th><th>measured</th><th>verdict</th>"
         "<th>note</th></tr>\n";
    for (const Json &t : results["thresholds"]) {
      const std::string verdict = !t["passed"].is_boolean() ? "<span class=\"na\">not checked</span>"
                                  : t["passed"].get<bool>() ? "<span class=\"verdict pass\">passed</span>"
                                                             : "<span class=\"verdict fail\">FAILED</span>";
      h += "<tr><td>" + htmlEscape(text(t["name"])) + "</td><td>" + cell(number(t["limit"]), "%.3f") + "</td><td>" +
           cell(number(t["value"]), "%.3f") + "</td><td>" + verdict + "</td><td class=\"note\">" +
           htmlEscape(text(t["note"])) + "</td></tr>\n";
    }
    h += "</table>\n";
  }

  if (compressReport.is_object()) {
    h += "<h2>Quantization: per-layer SQNR</h2>\n<p class=\"meta\">" +
         htmlEscape(text(compressReport["quantizer"])) + " " + htmlEscape(text(compressReport["bits"])) + "-bit " +
         htmlEscape(text(compressReport["data_type"])) + ", " + htmlEscape(text(compressReport["calibration"])) +
         " calibration on " + htmlEscape(text(compressReport["calibration_samples"])) + " samples";
    std::string optimizations;
    for (const Json &o : compressReport.value("optimizations", Json::array()))
      optimizations += (optimizations.empty() ? "" : ", ") + text(o);
    if (!optimizations.empty()) h += ", optimizations " + htmlEscape(optimizations);
    for (const Json &o : compressReport.value("output_sqnr_db", Json::array()))
      h += "; output " + htmlEscape(text(o["output"])) + " SQNR " + cell(number(o["sqnr_db"]), "%.1f", " dB");
    h += ". Each bar: the signal-to-quantization-noise ratio of the layer's output against the fp32 model "
         "(higher is better; under 20 dB in orange).</p>\n";
    const Json layers = compressReport.value("layers", Json::array());
    if (layers.empty())
      h += "<p class=\"meta\">The compress report lists no layers.</p>\n";
    else
      h += "<div id=\"sqnr\">\n" + sqnrChart(layers) + "</div>\n";
  }
  h += "<p class=\"meta\">Written by leip optimize next to results.json, recipe.json and the artifact.</p>\n"
       "</body>\n</html>\n";
  return h;
}

} // namespace leip::cli
