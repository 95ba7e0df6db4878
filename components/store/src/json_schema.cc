#include "snap/json_schema.h"

#include <boost/core/demangle.hpp>
#include <boost/json/array.hpp>

namespace snap {

std::string type_name(const std::type_info& type) {
  std::string name = boost::core::demangle(type.name());
  // A type in an anonymous namespace is named by what the program calls it.
  static constexpr std::string_view kAnonymous = "(anonymous namespace)::";
  for (std::size_t at; (at = name.find(kAnonymous)) != std::string::npos;) name.erase(at, kAnonymous.size());
  return name;
}

namespace {

using Kind = TypeShape::Kind;

// JSON Schema 2020-12 has no "nullable": a value that may be null is its type or null.
boost::json::object or_null(boost::json::object schema) {
  if (schema.empty()) return schema;  // any value: null included
  if (const auto* type = schema.if_contains("type"); type != nullptr && type->is_string()) {
    schema["type"] = boost::json::array{*type, "null"};
    return schema;
  }
  return {{"anyOf", boost::json::array{std::move(schema), boost::json::object{{"type", "null"}}}}};
}

boost::json::object integer_schema(const TypeShape& shape) {
  const bool fits_int32 =
      shape.minimum >= std::numeric_limits<std::int32_t>::min() &&
      shape.maximum <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
  boost::json::object o{{"type", "integer"}, {"format", fits_int32 ? "int32" : "int64"}};
  o["minimum"] = shape.minimum;
  o["maximum"] = shape.maximum;
  return o;
}

}  // namespace

boost::json::object json_schema(const TypeShape& shape, const std::function<std::string(const TypeShape&)>& ref,
                                bool define) {
  switch (shape.kind) {
    case Kind::kBoolean: return {{"type", "boolean"}};
    case Kind::kInteger: return integer_schema(shape);
    case Kind::kNumber: return {{"type", "number"}, {"format", shape.bits == 32 ? "float" : "double"}};
    case Kind::kString: return {{"type", "string"}};
    case Kind::kAny: return {};
    case Kind::kOptional: return or_null(json_schema(shape.element(), ref));
    case Kind::kArray: return {{"type", "array"}, {"items", json_schema(shape.element(), ref)}};
    case Kind::kMap: return {{"type", "object"}, {"additionalProperties", json_schema(shape.element(), ref)}};
    case Kind::kStruct: {
      if (!define) return {{"$ref", ref(shape)}};
      boost::json::object properties;
      boost::json::array required;
      for (const FieldShape& field : shape.fields) {
        const TypeShape type = field.type();
        // An optional member is left out when empty, never written as null.
        if (type.kind == Kind::kOptional) {
          properties[field.name] = json_schema(type.element(), ref);
        } else {
          properties[field.name] = json_schema(type, ref);
          required.emplace_back(field.name);
        }
      }
      boost::json::object o{{"type", "object"}, {"properties", std::move(properties)}};
      if (!required.empty()) o["required"] = std::move(required);
      return o;
    }
  }
  return {};
}

}  // namespace snap
