#include "snap/json_struct.h"

#include <boost/json/parser.hpp>

#include <cmath>
#include <utility>
#include <vector>

namespace snap {

JsonError::JsonError(std::string path, std::string problem)
    : Error(ErrorCode::kInvalidArgument, "json", path + ": " + problem), path_(std::move(path)), problem_(std::move(problem)) {}

namespace json_detail {

namespace {
std::string_view kind_of(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "number";
    case boost::json::kind::string: return "string";
    case boost::json::kind::array: return "array";
    case boost::json::kind::object: return "object";
  }
  return "value";
}
}  // namespace

std::string Path::str() const {
  std::vector<const Path*> chain;
  for (const Path* p = this; p != nullptr; p = p->parent) chain.push_back(p);
  std::string out = "$";
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Path& p = **it;
    if (p.index != SIZE_MAX) {
      out += "[" + std::to_string(p.index) + "]";
    } else if (p.parent != nullptr) {
      out += ".";
      out += p.field;
    }
  }
  return out;
}

void fail(const Path& path, std::string_view expected, const boost::json::value& got) {
  std::string problem = "expected " + std::string(expected) + ", got " + std::string(kind_of(got));
  if (got.is_number()) problem += " " + boost::json::serialize(got);
  throw JsonError(path.str(), std::move(problem));
}

void fail_missing(const Path& path) { throw JsonError(path.str(), "missing"); }

void fail_out_of_range(const Path& path) { throw JsonError(path.str(), "expected finite number, got number out of range"); }

void fail_not_finite(const Path& path) {
  throw JsonError(path.str(), "not JSON: a non-finite number (JSON has no NaN or infinity)");
}

void check_finite(const boost::json::value& v, const Path& path) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      if (!std::isfinite(v.get_double())) fail_not_finite(path);
      return;
    case boost::json::kind::array: {
      const auto& array = v.get_array();
      for (std::size_t i = 0; i < array.size(); ++i) check_finite(array[i], Path{&path, {}, i});
      return;
    }
    case boost::json::kind::object:
      for (const auto& [key, element] : v.get_object()) check_finite(element, Path{&path, key, SIZE_MAX});
      return;
    default:
      return;
  }
}

}  // namespace json_detail

namespace {
boost::json::parse_options limits() {
  boost::json::parse_options options;
  options.max_depth = kJsonMaxDepth;
  return options;
}

boost::json::value parse_with(std::string_view text, boost::json::parser& parser) {
  boost::system::error_code ec;
  // write(), not write_some(): the text must be one whole value, nothing after it.
  const std::size_t used = parser.write(text.data(), text.size(), ec);
  if (ec == boost::json::error::too_deep) {
    throw JsonError("$", "nested deeper than " + std::to_string(kJsonMaxDepth) +
                             " arrays and objects (kJsonMaxDepth) at offset " + std::to_string(used));
  }
  if (ec) throw JsonError("$", "not JSON: " + ec.message() + " at offset " + std::to_string(used));
  return parser.release();
}
}  // namespace

boost::json::value parse_json(std::string_view text) {
  boost::json::parser parser(boost::json::storage_ptr(), limits());
  return parse_with(text, parser);
}

namespace json_detail {
boost::json::value parse_into(std::string_view text, Scratch& scratch) {
  // The constructor's storage is for the parser's own temporaries; reset() sets the
  // document's.
  boost::json::parser parser(boost::json::storage_ptr(), limits(), scratch.parser_stack, sizeof scratch.parser_stack);
  parser.reset(boost::json::storage_ptr(&scratch.memory));
  return parse_with(text, parser);
}
}  // namespace json_detail

}  // namespace snap
