#include "json_codec.h"

#include "snap/json_limits.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace snap::store_detail {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid
// (overlong forms, surrogates and code points above U+10FFFF are refused, as PostgreSQL
// does).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

const char* problem_of(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\0') return "contains a NUL character, which PostgreSQL text and jsonb cannot hold";
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) return "is not valid UTF-8";
    i += n;
  }
  return nullptr;
}

std::string pointer_segment(std::string_view name) {
  std::string out = "/";
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Walks `v`; on a problem fills `reason` and `path` (a JSON pointer, built while
// unwinding so that the common, valid case builds nothing) and returns false.
// `depth`: arrays and objects around `v` (0 for the value itself).
bool walk(const json& v, std::size_t depth, ValueFacts& facts, std::string& path, std::string& reason) {
  if ((v.is_array() || v.is_object()) && depth + 1 > kJsonMaxDepth) {
    reason = "arrays and objects nested deeper than " + std::to_string(kJsonMaxDepth) + " (kJsonMaxDepth)";
    return false;
  }
  switch (v.kind()) {
    case boost::json::kind::null:
    case boost::json::kind::bool_:
    case boost::json::kind::int64:
      return true;
    case boost::json::kind::uint64:
      if (v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        facts.normalizes = true;
      }
      return true;
    case boost::json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) {
        reason = "a non-finite number (JSON has no NaN or infinity)";
        return false;
      }
      facts.has_double = true;
      if (d == 0 && std::signbit(d)) facts.normalizes = true;
      return true;
    }
    case boost::json::kind::string:
      if (const char* problem = problem_of(v.get_string())) {
        reason = std::string("a string that ") + problem;
        return false;
      }
      return true;
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!walk(a[i], depth + 1, facts, path, reason)) {
          path.insert(0, "/" + std::to_string(i));
          return false;
        }
      }
      return true;
    }
    case boost::json::kind::object:
      for (const auto& member : v.get_object()) {
        if (const char* problem = problem_of(member.key())) {
          reason = std::string("a member name that ") + problem;
          path.insert(0, escaped(pointer_segment(member.key())));
          return false;
        }
        if (!walk(member.value(), depth + 1, facts, path, reason)) {
          path.insert(0, escaped(pointer_segment(member.key())));
          return false;
        }
      }
      return true;
  }
  return true;
}

bool has_double(const json& v) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      return true;
    case boost::json::kind::array:
      for (const auto& e : v.get_array()) {
        if (has_double(e)) return true;
      }
      return false;
    case boost::json::kind::object:
      for (const auto& m : v.get_object()) {
        if (has_double(m.value())) return true;
      }
      return false;
    default:
      return false;
  }
}

bool starts_number(char c) { return c == '-' || (c >= '0' && c <= '9'); }
bool in_number(char c) { return starts_number(c) || c == '+' || c == '.' || c == 'e' || c == 'E'; }

// Calls `on_number(begin, end)` for every number token of JSON text `text`, in order.
template <typename F>
void for_each_number(std::string_view text, F&& on_number) {
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
      ++i;  // the closing quote
    } else if (starts_number(c)) {
      const std::size_t begin = i;
      while (i < text.size() && in_number(text[i])) ++i;
      on_number(begin, i);
    } else {
      ++i;
    }
  }
}

// Replaces every double in `v` (depth first, members in order: the order their tokens
// appear in the text they were parsed from) with the correctly rounded reading of its
// token.
void reread_doubles(json& v, const std::vector<std::string_view>& tokens, std::size_t& next) {
  switch (v.kind()) {
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      ++next;
      return;
    case boost::json::kind::double_: {
      const std::string_view token = tokens.at(next++);
      double d = 0;
      const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), d);
      // from_chars refuses what JSON allows in one place only: it reads the digits the
      // same way, so an error here means the text and value disagree, which they can't.
      if (ec == std::errc() && end == token.data() + token.size()) v = d;
      return;
    }
    case boost::json::kind::array:
      for (auto& e : v.get_array()) reread_doubles(e, tokens, next);
      return;
    case boost::json::kind::object:
      for (auto& m : v.get_object()) reread_doubles(m.value(), tokens, next);
      return;
    default:
      return;
  }
}

}  // namespace

std::string printable(std::string_view text) { return "\"" + escaped(text) + "\""; }

std::string escaped(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence(text, i);
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7F))) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

const char* text_problem(std::string_view text) {
  if (text.size() > kMaxKeyBytes) return "is longer than kMaxKeyBytes";
  return problem_of(text);
}

void throw_bad_text(std::string_view text, const std::string& what) {
  if (text.empty()) throw StoreError(StoreError::Code::kInvalidArgument, what + " is empty");
  if (text.size() > kMaxKeyBytes) {
    // Named by its start only: the whole text may be megabytes.
    constexpr std::size_t kShown = 32;
    throw StoreError(StoreError::Code::kInvalidArgument,
                     what + " " + printable(text.substr(0, kShown)) + "... is " + std::to_string(text.size()) +
                         " bytes long, over the limit of " + std::to_string(kMaxKeyBytes) + " bytes");
  }
  throw StoreError(StoreError::Code::kInvalidArgument, what + " " + printable(text) + " " + problem_of(text));
}

bool inspect_value(const json& value, ValueFacts& facts, std::string& path, std::string& reason) {
  return walk(value, 0, facts, path, reason);
}

void throw_bad_value(const std::string& what, const std::string& path, const std::string& reason) {
  throw StoreError(StoreError::Code::kInvalidArgument,
                   what + " cannot be stored: it holds " + reason + " at \"" + path + "\"");
}

void normalize(json& v) {
  switch (v.kind()) {
    case boost::json::kind::uint64:
      if (v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        v = static_cast<std::int64_t>(v.get_uint64());
      }
      return;
    case boost::json::kind::double_:
      if (v.get_double() == 0) v = 0.0;  // drops the sign of -0.0
      return;
    case boost::json::kind::array:
      for (auto& e : v.get_array()) normalize(e);
      return;
    case boost::json::kind::object:
      for (auto& m : v.get_object()) normalize(m.value());
      return;
    default:
      return;
  }
}

std::string to_postgres_text(const json& value, const ValueFacts& facts) {
  std::string text = boost::json::serialize(value);
  if (!facts.has_double) return text;
  // Boost.JSON writes a double as the shortest digits that read back exactly, always with
  // an exponent ("2E0", "1.5E-7"); an integer never has one. Rewrite the doubles.
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t copied = 0;
  for_each_number(text, [&](std::size_t begin, std::size_t end) {
    const std::string_view token(text.data() + begin, end - begin);
    if (token.find_first_of("eE.") == std::string_view::npos) return;
    double d = 0;
    std::from_chars(token.data(), token.data() + token.size(), d);
    // Fixed notation of a finite double: at most 309 integer digits, or "0." and 324
    // fractional digits for the smallest subnormal, plus a sign.
    char buffer[400];
    auto [end_ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, d, std::chars_format::fixed);
    std::string_view fixed(buffer, static_cast<std::size_t>(end_ptr - buffer));
    out.append(text, copied, begin - copied);
    out.append(fixed);
    if (fixed.find('.') == std::string_view::npos) out += ".0";
    copied = end;
  });
  out.append(text, copied, std::string::npos);
  return out;
}

json from_postgres_text(std::string_view text) {
  // Stored values are checked against kJsonMaxDepth on the way in; the same limit here.
  boost::json::parse_options options;
  options.max_depth = kJsonMaxDepth;
  json v = boost::json::parse(text, {}, options);
  if (!has_double(v)) return v;
  std::vector<std::string_view> tokens;
  for_each_number(text, [&](std::size_t begin, std::size_t end) { tokens.push_back(text.substr(begin, end - begin)); });
  std::size_t next = 0;
  reread_doubles(v, tokens, next);
  return v;
}

}  // namespace snap::store_detail
