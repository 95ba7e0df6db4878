#include "snap/id.h"

#include <cstdio>
#include <stdexcept>

namespace snap {

namespace {

std::string escape_segment(std::string_view name) {
  if (name.empty()) throw std::invalid_argument("snap::Id: a name segment must not be empty");
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '.') {
      out += "%2E";
    } else if (c == '%') {
      out += "%25";
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_segment(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 && s.substr(i, 3) == "%2E") {
      out += '.';
      i += 2;
    } else if (s[i] == '%' && s.substr(i, 3) == "%25") {
      out += '%';
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// FNV-1a: tiny, stable across platforms and versions, which is what a name suffix needs.
std::uint32_t name_digest(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

Id Id::root(std::string_view name) { return Id(escape_segment(name)); }

Id Id::child(std::string_view name) const { return Id(text_ + "." + escape_segment(name)); }

Id Id::parse(std::string_view dotted) {
  std::size_t dot = dotted.find('.');
  Id id = root(unescape_segment(dotted.substr(0, dot)));
  while (dot != std::string_view::npos) {
    const std::size_t start = dot + 1;
    dot = dotted.find('.', start);
    id = id.child(unescape_segment(dotted.substr(start, dot == std::string_view::npos ? dot : dot - start)));
  }
  return id;
}

std::vector<std::string> Id::segments() const {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text_.find('.', start);
    out.push_back(unescape_segment(std::string_view(text_).substr(start, dot - start)));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

std::string Id::name() const {
  const std::size_t dot = text_.rfind('.');
  return unescape_segment(dot == std::string::npos ? text_ : std::string_view(text_).substr(dot + 1));
}

std::string Id::safe_name() const {
  constexpr std::size_t kMaxLength = 63;
  constexpr std::size_t kSuffixLength = 9;  // '_' + 8 hex digits
  std::string readable;
  for (const std::string& segment : segments()) {
    for (char c : segment) {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (c >= 'A' && c <= 'Z') {
        readable += static_cast<char>(c - 'A' + 'a');
      } else if (alnum) {
        readable += c;
      } else if (readable.empty() || readable.back() != '_') {
        readable += '_';
      }
    }
    if (readable.empty() || readable.back() != '_') readable += '_';
  }
  while (!readable.empty() && readable.back() == '_') readable.pop_back();
  if (readable.empty() || !(readable[0] >= 'a' && readable[0] <= 'z')) readable.insert(0, "c_");
  if (readable.size() > kMaxLength - kSuffixLength) readable.resize(kMaxLength - kSuffixLength);
  while (!readable.empty() && readable.back() == '_') readable.pop_back();
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%08x", name_digest(text_));
  return readable + suffix;
}

std::string Id::listen_name() const { return "listen." + service_name(); }

std::string Id::service_name() const {
  constexpr std::size_t kMaxLength = 63;  // a DNS label
  constexpr std::size_t kSuffixLength = 9;  // '-' + 8 hex digits
  const std::vector<std::string> all = segments();
  std::string label;
  for (std::size_t i = all.size() > 1 ? 1 : 0; i < all.size(); ++i) {
    for (char c : all[i]) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (alnum) {
        label += c;
      } else if (!label.empty() && label.back() != '-') {
        label += '-';
      }
    }
    if (!label.empty() && label.back() != '-') label += '-';
  }
  while (!label.empty() && label.back() == '-') label.pop_back();
  if (label.empty()) label = "c";
  if (label.size() <= kMaxLength) return label;
  label.resize(kMaxLength - kSuffixLength);
  while (!label.empty() && label.back() == '-') label.pop_back();
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-%08x", name_digest(text_));
  return label + suffix;
}

std::string Id::env_name() const {
  std::string s = safe_name();
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

}  // namespace snap
