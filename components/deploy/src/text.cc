#include "text.h"

#include <cctype>
#include <utility>

#include <boost/json.hpp>

namespace snap::deploy_plan {

namespace {

constexpr std::string_view kHeader =
    "# Written by `{app} build` (snapshot). Do not edit: the next build rewrites it.\n"
    "# What each part is for: docs/deploy.md.\n";

}  // namespace

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string header(const std::string& app) { return replace_all(std::string(kHeader), "{app}", app); }

std::string quote(std::string_view text) {
  return replace_all(boost::json::serialize(boost::json::string(text)), "$", "$$");
}
std::string quote_interpolated(std::string_view variable, std::string_view fallback) {
  return "\"${" + std::string(variable) + ":-" + replace_all(std::string(fallback), "$", "$$") + "}\"";
}
std::string flow_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + quote(items[i]);
  return out + "]";
}
std::string size_text(std::uint64_t bytes) {
  for (const auto& [shift, unit] : {std::pair{30, "g"}, std::pair{20, "m"}, std::pair{10, "k"}}) {
    if (bytes % (std::uint64_t{1} << shift) == 0) return std::to_string(bytes >> shift) + unit;
  }
  return std::to_string(bytes);
}
std::string shell_quote(std::string_view text) { return "'" + replace_all(std::string(text), "'", "'\\''") + "'"; }

std::uint32_t fnv1a(std::string_view text) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return h;
}

std::string file_name_for(std::string_view name) {
  std::string out = key_for(name);
  if (out.empty() || out == "." || out == "..") out = "app";
  return out;
}
std::string key_for(std::string_view text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out;
}

}  // namespace snap::deploy_plan
