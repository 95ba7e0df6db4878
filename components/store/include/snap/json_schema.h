// The JSON a type reads and writes through snap/json_struct.h, as data: shape_of<T>()
// describes T by the same rules the codec follows, and json_schema() turns that into a
// JSON Schema (2020-12, the dialect of OpenAPI 3.1). ApiServer records each endpoint's
// request and response this way (its OpenAPI description and the manifest), so what is
// described is what the codec does:
//  - bool, std::string: boolean, string; boost::json::value: any value ({});
//  - integers: "integer" with the C++ type's minimum and maximum (the codec refuses
//    anything outside them, and fractions);
//  - float/double: "number" ("float" or "double");
//  - std::optional<T> as a struct member: T's schema, left out of "required" (the codec
//    writes an empty one by leaving the member out); elsewhere (an element, a whole
//    request) T or null;
//  - std::vector<T>: an array of T; std::map<std::string, T>: an object of T values;
//  - a struct described with BOOST_DESCRIBE_STRUCT: an object with its public members in
//    declaration order (bases are not followed, as the codec does not follow them), every
//    member that is not a std::optional required; members it does not have are allowed
//    (the codec ignores them).
//
// Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include <boost/describe.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/mp11/algorithm.hpp>

#include "snap/json_struct.h"

namespace snap {

struct TypeShape;
// A type's shape, made when asked for: members and elements hold these rather than
// shapes, so a struct that holds a vector of itself is described without recursing.
using ShapeOf = TypeShape (*)();

struct FieldShape {
  std::string_view name;  // the member's name, static (BOOST_DESCRIBE_STRUCT's)
  ShapeOf type;
};

struct TypeShape {
  enum class Kind { kBoolean, kInteger, kNumber, kString, kAny, kOptional, kArray, kMap, kStruct };
  Kind kind = Kind::kAny;
  // kInteger: the C++ type's range.
  std::int64_t minimum = 0;
  std::uint64_t maximum = 0;
  // kNumber: 32 for float, 64 for double (and wider types, which travel as doubles).
  int bits = 0;
  // kOptional, kArray, kMap: the value's shape.
  ShapeOf element = nullptr;
  // kStruct: the type (its identity: two structs may share a name) and its members.
  const std::type_info* type = nullptr;
  std::vector<FieldShape> fields;
};

template <typename T>
TypeShape shape_of() {
  using Kind = TypeShape::Kind;
  TypeShape s;
  if constexpr (std::is_same_v<T, bool>) {
    s.kind = Kind::kBoolean;
  } else if constexpr (std::is_integral_v<T>) {
    s.kind = Kind::kInteger;
    s.minimum = static_cast<std::int64_t>(std::numeric_limits<T>::min());
    s.maximum = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  } else if constexpr (std::is_floating_point_v<T>) {
    s.kind = Kind::kNumber;
    s.bits = std::is_same_v<T, float> ? 32 : 64;
  } else if constexpr (std::is_same_v<T, std::string>) {
    s.kind = Kind::kString;
  } else if constexpr (std::is_same_v<T, boost::json::value>) {
    s.kind = Kind::kAny;
  } else if constexpr (json_detail::is_optional<T>::value) {
    s.kind = Kind::kOptional;
    s.element = &shape_of<typename T::value_type>;
  } else if constexpr (json_detail::is_vector<T>::value) {
    s.kind = Kind::kArray;
    s.element = &shape_of<typename T::value_type>;
  } else if constexpr (json_detail::is_string_map<T>::value) {
    s.kind = Kind::kMap;
    s.element = &shape_of<typename T::mapped_type>;
  } else if constexpr (json_detail::is_described_struct<T>) {
    s.kind = Kind::kStruct;
    s.type = &typeid(T);
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>([&](auto member) {
      using Field = std::remove_cvref_t<decltype(std::declval<const T&>().*member.pointer)>;
      s.fields.push_back({member.name, &shape_of<Field>});
    });
  } else {
    static_assert(sizeof(T) == 0, "snap JSON: unsupported type; describe the struct with BOOST_DESCRIBE_STRUCT");
  }
  return s;
}

// The C++ name of a struct, demangled ("shop::Customer", "Page<shop::Customer>"), with
// "(anonymous namespace)::" left out.
std::string type_name(const std::type_info& type);

// The JSON Schema of `shape`. A struct inside it is {"$ref": ref(struct's shape)}; so is
// `shape` itself when it is a struct, unless `define` is set: then it is the struct's
// own schema, {"type": "object", "properties": {...}, "required": [...]}.
boost::json::object json_schema(const TypeShape& shape, const std::function<std::string(const TypeShape&)>& ref,
                                bool define = false);

}  // namespace snap
