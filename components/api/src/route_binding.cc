#include "route_binding.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include <boost/json.hpp>

namespace snap::api_detail {

namespace {

bool is_body_method(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

std::string_view kind_name(FieldKind kind) {
  switch (kind) {
    case FieldKind::kString: return "string";
    case FieldKind::kInteger:
    case FieldKind::kUnsigned: return "integer";
    case FieldKind::kNumber: return "number";
    case FieldKind::kBoolean: return "boolean";
    case FieldKind::kOther: return "value";
  }
  return "value";
}

const RequestField* field_named(const RequestType& request, std::string_view name) {
  for (const RequestField& f : request.fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

void percent_encode(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded (and '+' as a space in a query); JsonError naming `where` for a bad escape.
std::string percent_decode(std::string_view text, bool plus_is_space, const std::string& where) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int hi = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) throw JsonError(where, "not valid percent-encoding: \"" + std::string(text) + "\"");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// A parameter's text as its field's JSON value. Throws JsonError("$.NAME", ...).
boost::json::value convert(const std::string& name, FieldKind kind, const std::string& text) {
  const std::string where = "$." + name;
  const auto refuse = [&]() -> boost::json::value {
    throw JsonError(where, "expected " + std::string(kind_name(kind)) + ", got \"" + text + "\"");
  };
  const char* first = text.data();
  const char* last = text.data() + text.size();
  switch (kind) {
    case FieldKind::kString:
    case FieldKind::kOther:
      return boost::json::string(text);
    case FieldKind::kInteger: {
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(first, last, v);
      if (ec != std::errc() || end != last || text.empty()) return refuse();
      return v;
    }
    case FieldKind::kUnsigned: {
      std::uint64_t v = 0;
      const auto [end, ec] = std::from_chars(first, last, v);
      if (ec != std::errc() || end != last || text.empty()) return refuse();
      return v;
    }
    case FieldKind::kNumber: {
      double v = 0;
      const auto [end, ec] = std::from_chars(first, last, v);
      if (ec != std::errc() || end != last || text.empty() || !std::isfinite(v)) return refuse();
      return v;
    }
    case FieldKind::kBoolean:
      if (text == "true") return true;
      if (text == "false") return false;
      return refuse();
  }
  return refuse();
}

// A field's JSON value as the text of a path segment or a query parameter; nullopt for
// null (an empty optional: left out of a query).
std::optional<std::string> text_of(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return std::nullopt;
    case boost::json::kind::string: return std::string(v.get_string());
    case boost::json::kind::bool_: return std::string(v.get_bool() ? "true" : "false");
    default: return boost::json::serialize(v);
  }
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t at = 1;  // after the leading '/'
  for (;;) {
    const std::size_t slash = path.find('/', at);
    out.push_back(path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at));
    if (slash == std::string_view::npos) return out;
    at = slash + 1;
  }
}

}  // namespace

RouteShape make_shape(const std::string& where, std::string_view method, std::string_view path, RequestType request) {
  RouteShape shape;
  shape.method = std::string(method);
  shape.path = std::string(path);
  shape.query = !is_body_method(method);
  std::set<std::string> names;
  for (std::string_view segment : split_path(path)) {
    RouteShape::Segment s;
    const bool opens = segment.find('{') != std::string_view::npos, closes = segment.find('}') != std::string_view::npos;
    if (opens || closes) {
      if (segment.size() < 2 || segment.front() != '{' || segment.back() != '}' ||
          segment.find_first_of("{}", 1) != segment.size() - 1) {
        throw std::invalid_argument(where + ": \"" + std::string(segment) +
                                    "\" is not a path parameter: a parameter is a whole segment, {name}");
      }
      s.param = true;
      s.text = std::string(segment.substr(1, segment.size() - 2));
      if (s.text.empty()) throw std::invalid_argument(where + ": a path parameter has no name ({})");
      if (!names.insert(s.text).second) {
        throw std::invalid_argument(where + ": the path parameter {" + s.text + "} appears twice");
      }
      const RequestField* field = field_named(request, s.text);
      if (field == nullptr) {
        throw std::invalid_argument(where + ": the path parameter {" + s.text + "} has no field \"" + s.text +
                                    "\" in the request" +
                                    (request.kind == RequestType::kStruct ? "" : " (the request is not a described struct)"));
      }
      if (field->kind == FieldKind::kOther) {
        throw std::invalid_argument(where + ": the path parameter {" + s.text + "} is the field \"" + s.text +
                                    "\", which is not a string, number or boolean");
      }
      s.kind = field->kind;
      shape.has_params = true;
    } else {
      s.text = std::string(segment);
    }
    shape.segments.push_back(std::move(s));
  }
  if (shape.query && request.kind == RequestType::kOther) {
    throw std::invalid_argument(where + ": a " + shape.method +
                                " request travels as a query string, so its type must be a described struct of "
                                "strings, numbers and booleans (send this one with POST, PUT or PATCH)");
  }
  if (shape.query) {
    for (const RequestField& f : request.fields) {
      if (f.kind == FieldKind::kOther) {
        throw std::invalid_argument(where + ": the request field \"" + f.name +
                                    "\" is not a string, number or boolean, so it cannot travel in a " + shape.method +
                                    " query string (send it with POST, PUT or PATCH)");
      }
    }
  }
  shape.request = std::move(request);
  return shape;
}

bool body_only(const RouteShape& shape) { return !shape.query && !shape.has_params; }

bool same_routes(const RouteShape& a, const RouteShape& b) {
  if (a.method != b.method || a.segments.size() != b.segments.size()) return false;
  for (std::size_t i = 0; i < a.segments.size(); ++i) {
    const auto& x = a.segments[i];
    const auto& y = b.segments[i];
    if (x.param != y.param || (!x.param && x.text != y.text)) return false;
  }
  return true;
}

bool matches(const RouteShape& shape, std::string_view path) {
  if (!shape.has_params) return path == shape.path;
  if (path.empty() || path[0] != '/') return false;
  std::size_t at = 1;
  for (std::size_t i = 0; i < shape.segments.size(); ++i) {
    const std::size_t slash = path.find('/', at);
    const bool last = i + 1 == shape.segments.size();
    if (last != (slash == std::string_view::npos)) return false;
    const std::string_view segment = path.substr(at, last ? std::string_view::npos : slash - at);
    if (shape.segments[i].param ? segment.empty() : segment != shape.segments[i].text) return false;
    at = slash + 1;
  }
  return true;
}

boost::json::value bind_request(const RouteShape& shape, const RequestText& request) {
  const std::size_t question = request.target.find('?');
  const std::string_view path = request.target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : request.target.substr(question + 1);
  boost::json::value document;
  // A GET or DELETE from a program built before query strings sends its request as a
  // body: still read, so an upgrade does not break older callers.
  if (!shape.query || !request.body.empty()) {
    document = parse_json(request.body);
    if (!document.is_object()) json_detail::fail(json_detail::Path{}, "object", document);
  } else {
    document.emplace_object();
  }
  boost::json::object& fields = document.as_object();
  if (shape.query && !query.empty()) {
    std::set<std::string> seen;
    std::size_t at = 0;
    while (at <= query.size()) {
      const std::size_t amp = query.find('&', at);
      const std::string_view pair = query.substr(at, amp == std::string_view::npos ? std::string_view::npos : amp - at);
      at = amp == std::string_view::npos ? query.size() + 1 : amp + 1;
      if (pair.empty()) continue;
      const std::size_t eq = pair.find('=');
      const std::string name = percent_decode(pair.substr(0, eq), true, "$");
      const RequestField* field = field_named(shape.request, name);
      if (field == nullptr) continue;  // a parameter the request does not have: ignored, as unknown fields are
      if (!seen.insert(name).second) throw JsonError("$." + name, "given twice in the query string");
      const std::string value =
          eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true, "$." + name);
      fields[name] = convert(name, field->kind, value);
    }
  }
  if (shape.has_params) {
    std::size_t at = 1;
    for (const RouteShape::Segment& s : shape.segments) {
      const std::size_t slash = path.find('/', at);
      const std::string_view segment = path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
      at = slash + 1;
      if (!s.param) continue;
      fields[s.text] = convert(s.text, s.kind, percent_decode(segment, false, "$." + s.text));
    }
  }
  return document;
}

WireRequest render_request(const RouteShape& shape, const boost::json::value& request) {
  WireRequest wire;
  if (!shape.has_params) {
    wire.target = shape.path;
  } else {
    const boost::json::object* fields = request.if_object();
    for (const RouteShape::Segment& s : shape.segments) {
      wire.target += '/';
      if (!s.param) {
        wire.target += s.text;
        continue;
      }
      const boost::json::value* v = fields != nullptr ? fields->if_contains(s.text) : nullptr;
      const std::optional<std::string> text = v != nullptr ? text_of(*v) : std::nullopt;
      if (!text || text->empty()) {
        throw ApiError(ErrorCode::kInvalidArgument, shape.method + " " + shape.path + ": the path parameter {" + s.text +
                                                        "} is empty");
      }
      percent_encode(wire.target, *text);
    }
  }
  if (request.is_null()) return wire;
  if (!shape.query) {
    wire.body = boost::json::serialize(request);
    return wire;
  }
  char separator = '?';
  for (const auto& [name, value] : request.as_object()) {
    bool in_path = false;
    for (const RouteShape::Segment& s : shape.segments) in_path |= s.param && s.text == name;
    if (in_path) continue;
    const std::optional<std::string> text = text_of(value);
    if (!text) continue;  // an empty optional: left out
    wire.target += separator;
    separator = '&';
    percent_encode(wire.target, name);
    wire.target += '=';
    percent_encode(wire.target, *text);
  }
  return wire;
}

}  // namespace snap::api_detail
