// JSON for plain structs: the wire format of snap::ApiServer endpoints, usable on its own.
//
//   struct Customer { std::string id; std::string name; std::optional<int> age; };
//   BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, age))
//
//   std::string text = snap::encode_json(Customer{"1", "John Doe", {}});
//   Customer back   = snap::decode_json<Customer>(text);   // throws snap::JsonError
//
// Supported: bool, integers (range-checked), float/double, std::string (UTF-8, NUL and
// non-ASCII kept exactly), std::optional<T>, std::vector<T>, std::map<std::string, T>,
// boost::json::value (passed through), and structs described with BOOST_DESCRIBE_STRUCT
// (public members; bases are not followed).
//
// Limits on what is read: a document nests at most kJsonMaxDepth (32) arrays and objects,
// counted over the whole text, fields the struct ignores included; numbers are finite.
//
// Decoding is tolerant where old and new programs must interoperate and strict where
// data would be lost:
//  - fields the struct does not have are ignored (an old client keeps working after a
//    server adds a field);
//  - a missing field, or one of the wrong type, throws JsonError naming the field's path
//    and the expected type ("customer.tags[2]: expected string, got number") — Boost.JSON's
//    own conversion would say only "array size does not match target size";
//  - a std::optional may be absent or null (both read as empty); an empty optional is
//    written by leaving the field out;
//  - 0, false and "" are values like any other: written and read back exactly;
//  - JSON has no NaN or infinity: a number too large for its type (1e999999 for a
//    double, 1e300 for a float) throws JsonError on decode ("$.score: expected finite
//    number, got number out of range"), and encoding a NaN or an infinity, in a field or
//    inside a passed-through boost::json::value, throws JsonError naming the field
//    ("$.score: not JSON: a non-finite number") instead of writing `Infinity`.
//
// Thread safety: free functions over the caller's values.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/describe.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/mp11/algorithm.hpp>

#include "snap/error.h"
#include "snap/json_limits.h"

namespace snap {

// kJsonMaxDepth (snap/json_limits.h) bounds the nesting decode_json and parse_json accept;
// it is counted over the whole text, because fields that are then ignored are parsed too.

// A JSON document that does not fit the expected type. what() is
// "PATH: expected TYPE, got KIND" (or "...: missing"); the path starts at the
// document root, written "$" ("$.address.zip", "$[3].name"). Code invalid_argument,
// detail "json".
class JsonError : public Error {
 public:
  JsonError(std::string path, std::string problem);
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

namespace json_detail {

// Where a value sits in the document; a chain on the stack, turned into text only when
// an error is reported, so a successful decode builds no strings.
struct Path {
  const Path* parent = nullptr;
  std::string_view field;          // set for an object member
  std::size_t index = SIZE_MAX;    // set for an array element
  std::string str() const;
};

[[noreturn]] void fail(const Path& path, std::string_view expected, const boost::json::value& got);
[[noreturn]] void fail_missing(const Path& path);
[[noreturn]] void fail_out_of_range(const Path& path);
[[noreturn]] void fail_not_finite(const Path& path);
// Throws fail_not_finite at the first NaN or infinity inside `v`.
void check_finite(const boost::json::value& v, const Path& path);

template <typename T> struct is_optional : std::false_type {};
template <typename T> struct is_optional<std::optional<T>> : std::true_type {};
template <typename T> struct is_vector : std::false_type {};
template <typename T, typename A> struct is_vector<std::vector<T, A>> : std::true_type {};
template <typename T> struct is_string_map : std::false_type {};
template <typename T, typename C, typename A> struct is_string_map<std::map<std::string, T, C, A>> : std::true_type {};

template <typename T>
constexpr bool is_described_struct = boost::describe::has_describe_members<T>::value && std::is_class_v<T>;

template <typename T>
void write(const T& in, const Path& path, boost::json::value& out);

template <typename T>
void read(const boost::json::value& in, const Path& path, T& out);

template <typename T>
void write(const T& in, const Path& path, boost::json::value& out) {
  if constexpr (std::is_same_v<T, bool>) {
    out = in;
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    out = static_cast<std::int64_t>(in);
  } else if constexpr (std::is_integral_v<T>) {
    out = static_cast<std::uint64_t>(in);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(in)) fail_not_finite(path);
    out = static_cast<double>(in);
  } else if constexpr (std::is_same_v<T, std::string>) {
    out.emplace_string().assign(in.data(), in.size());
  } else if constexpr (std::is_same_v<T, boost::json::value>) {
    check_finite(in, path);
    out = in;
  } else if constexpr (is_optional<T>::value) {
    if (in) {
      write(*in, path, out);
    } else {
      out = nullptr;
    }
  } else if constexpr (is_vector<T>::value) {
    auto& array = out.emplace_array();
    array.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) write(in[i], Path{&path, {}, i}, array.emplace_back(nullptr));
  } else if constexpr (is_string_map<T>::value) {
    auto& object = out.emplace_object();
    for (const auto& [key, element] : in) write(element, Path{&path, key, SIZE_MAX}, object[key]);
  } else if constexpr (is_described_struct<T>) {
    auto& object = out.emplace_object();
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>([&](auto member) {
      const auto& field = in.*member.pointer;
      if constexpr (is_optional<std::decay_t<decltype(field)>>::value) {
        if (!field) return;  // absent, not null: what an old reader expects least
      }
      write(field, Path{&path, member.name, SIZE_MAX}, object[member.name]);
    });
  } else {
    static_assert(sizeof(T) == 0, "snap JSON: unsupported type; describe the struct with BOOST_DESCRIBE_STRUCT");
  }
}

template <typename T>
void read(const boost::json::value& in, const Path& path, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!in.is_bool()) fail(path, "boolean", in);
    out = in.get_bool();
  } else if constexpr (std::is_integral_v<T>) {
    // Only exact integers in range: 1.5 or 300 for a uint8_t would silently change.
    if (in.is_int64()) {
      const std::int64_t v = in.get_int64();
      if constexpr (std::is_signed_v<T>) {
        if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) fail(path, "integer in range", in);
      } else {
        if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max()) fail(path, "integer in range", in);
      }
      out = static_cast<T>(v);
    } else if (in.is_uint64()) {
      const std::uint64_t v = in.get_uint64();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) fail(path, "integer in range", in);
      out = static_cast<T>(v);
    } else {
      fail(path, "integer", in);
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (in.is_double()) {
      // The parser reads a number too large for a double as an infinity; a double too
      // large for a float would become one (and the conversion is undefined).
      const double d = in.get_double();
      if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(std::numeric_limits<T>::max())) {
        fail_out_of_range(path);
      }
      out = static_cast<T>(d);
    } else if (in.is_int64()) {
      out = static_cast<T>(in.get_int64());
    } else if (in.is_uint64()) {
      out = static_cast<T>(in.get_uint64());
    } else {
      fail(path, "number", in);
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!in.is_string()) fail(path, "string", in);
    out.assign(in.get_string().data(), in.get_string().size());
  } else if constexpr (std::is_same_v<T, boost::json::value>) {
    check_finite(in, path);
    out = in;
  } else if constexpr (is_optional<T>::value) {
    if (in.is_null()) {
      out.reset();
    } else {
      read(in, path, out.emplace());
    }
  } else if constexpr (is_vector<T>::value) {
    if (!in.is_array()) fail(path, "array", in);
    const auto& array = in.get_array();
    out.clear();
    out.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
      typename T::value_type element{};  // not out[i]: std::vector<bool> has no bool& to read into
      read(array[i], Path{&path, {}, i}, element);
      out.push_back(std::move(element));
    }
  } else if constexpr (is_string_map<T>::value) {
    if (!in.is_object()) fail(path, "object", in);
    out.clear();
    for (const auto& [key, element] : in.get_object()) {
      read(element, Path{&path, key, SIZE_MAX}, out[std::string(key)]);
    }
  } else if constexpr (is_described_struct<T>) {
    if (!in.is_object()) fail(path, "object", in);
    const auto& object = in.get_object();
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>([&](auto member) {
      auto& field = out.*member.pointer;
      const Path here{&path, member.name, SIZE_MAX};
      const boost::json::value* found = object.if_contains(member.name);
      if (found == nullptr) {
        if constexpr (is_optional<std::decay_t<decltype(field)>>::value) {
          field.reset();
          return;
        } else {
          fail_missing(here);
        }
      }
      read(*found, here, field);
    });
  } else {
    static_assert(sizeof(T) == 0, "snap JSON: unsupported type; describe the struct with BOOST_DESCRIBE_STRUCT");
  }
}

}  // namespace json_detail

// Throws JsonError naming the first NaN or infinity (JSON has neither).
template <typename T>
boost::json::value to_json(const T& value) {
  boost::json::value out;
  json_detail::write(value, json_detail::Path{}, out);
  return out;
}

// Throws JsonError naming the first field that does not fit.
template <typename T>
T from_json(const boost::json::value& value) {
  T out{};
  json_detail::read(value, json_detail::Path{}, out);
  return out;
}

namespace json_detail {
// Stack memory for one conversion: the document's nodes (and the parser's work stack),
// so a small request or response costs no heap allocation beyond its result.
struct Scratch {
  unsigned char parser_stack[1024];
  unsigned char document[4096];
  boost::json::monotonic_resource memory{document, sizeof document};
};
boost::json::value parse_into(std::string_view text, Scratch& scratch);
}  // namespace json_detail

// Throws JsonError as to_json.
template <typename T>
std::string encode_json(const T& value) {
  json_detail::Scratch scratch;
  boost::json::value out(&scratch.memory);
  json_detail::write(value, json_detail::Path{}, out);
  return boost::json::serialize(out);
}

// Parses `text` and converts it. Throws JsonError with path "$" when the text is not
// JSON (problem: "not JSON: <parser's reason> at offset N") or nests deeper than
// kJsonMaxDepth, else as from_json.
boost::json::value parse_json(std::string_view text);
template <typename T>
T decode_json(std::string_view text) {
  json_detail::Scratch scratch;
  return from_json<T>(json_detail::parse_into(text, scratch));
}

}  // namespace snap
