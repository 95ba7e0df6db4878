#include "openapi.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <typeindex>
#include <utility>

#include <boost/json/serialize.hpp>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/env.h"
#include "snap/error.h"
#include "snap/openapi_emitter.h"

namespace snap::api_detail {

namespace {

using Kind = TypeShape::Kind;

constexpr std::string_view kSchemasRef = "#/schemas/";
constexpr std::string_view kComponentsRef = "#/components/schemas/";
constexpr std::string_view kErrorSchema = "Error";

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_identifier(char c) { return is_alnum(c) || c == '_'; }

// ---- schema names ----

// Every struct `shape` reaches, by type (a struct seen again is not followed again: a
// struct may hold a vector of itself).
void collect_structs(const TypeShape& shape, std::map<std::type_index, TypeShape>& out) {
  switch (shape.kind) {
    case Kind::kOptional:
    case Kind::kArray:
    case Kind::kMap: collect_structs(shape.element(), out); return;
    case Kind::kStruct:
      if (!out.emplace(std::type_index(*shape.type), shape).second) return;
      for (const FieldShape& field : shape.fields) collect_structs(field.type(), out);
      return;
    default: return;
  }
}

// "shop::Page<shop::Customer>" -> "Page<Customer>": each scope before "::" dropped.
std::string without_scopes(std::string_view qualified) {
  std::string out;
  for (std::size_t i = 0; i < qualified.size(); ++i) {
    if (qualified.compare(i, 2, "::") == 0) {
      while (!out.empty() && is_identifier(out.back())) out.pop_back();
      ++i;
      continue;
    }
    out += qualified[i];
  }
  return out;
}

// A component name holds only [A-Za-z0-9._-] (OpenAPI 3.1, "Components Object"): "::"
// becomes '.', any other run of characters '_' ("Page<Customer>" -> "Page_Customer").
std::string schema_name(std::string_view name) {
  std::string out;
  bool gap = false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (name.compare(i, 2, "::") == 0) {
      out += '.';
      gap = false;
      ++i;
    } else if (is_alnum(c) || c == '.' || c == '-' || c == '_') {
      if (gap && !out.empty()) out += '_';
      out += c;
      gap = false;
    } else {
      gap = true;
    }
  }
  return out;
}

// The name of each struct: short where it is the only one of its short name, else
// qualified. Throws std::invalid_argument when two types still share one.
std::map<std::type_index, std::string> name_structs(const std::map<std::type_index, TypeShape>& structs) {
  std::map<std::type_index, std::string> qualified;
  std::map<std::string, std::vector<std::type_index>> by_short;
  for (const auto& [type, shape] : structs) {
    qualified.emplace(type, type_name(*shape.type));
    by_short[schema_name(without_scopes(qualified.at(type)))].push_back(type);
  }
  std::map<std::type_index, std::string> names;
  std::map<std::string, std::type_index> taken;
  for (const auto& [short_name, types] : by_short) {
    // "Error" is the error format's schema: a struct of that name takes its whole name.
    const bool qualify = types.size() > 1 || short_name == kErrorSchema;
    for (const std::type_index& type : types) {
      const std::string name = qualify ? schema_name(qualified.at(type)) : short_name;
      if (name == kErrorSchema) {
        throw std::invalid_argument("the type " + qualified.at(type) +
                                    " would be the schema \"Error\" of its OpenAPI description, the error format's: "
                                    "rename it or declare it in a namespace");
      }
      const auto [it, added] = taken.emplace(name, type);
      if (!added) {
        std::string a = qualified.at(it->second), b = qualified.at(type);
        if (b < a) std::swap(a, b);
        throw std::invalid_argument("the types " + a + " and " + b + " would both be the schema \"" + name +
                                    "\" of its OpenAPI description (types of one name in different anonymous "
                                    "namespaces, or names that differ only in punctuation): rename one");
      }
      names.emplace(type, name);
    }
  }
  return names;
}

// ---- the document ----

// `v` with each {"$ref": "#/schemas/NAME"} pointing into the document's components.
boost::json::value rebased(const boost::json::value& v) {
  if (const auto* o = v.if_object()) {
    boost::json::object out;
    for (const auto& [key, child] : *o) {
      const boost::json::string* ref = key == "$ref" ? child.if_string() : nullptr;
      const std::string_view target = ref != nullptr ? std::string_view(*ref) : std::string_view();
      if (target.starts_with(kSchemasRef)) {
        out[key] = std::string(kComponentsRef) + std::string(target.substr(kSchemasRef.size()));
      } else {
        out[key] = rebased(child);
      }
    }
    return out;
  }
  if (const auto* a = v.if_array()) {
    boost::json::array out;
    for (const auto& child : *a) out.push_back(rebased(child));
    return out;
  }
  return v;
}

// The struct a schema refers to ({"$ref": "#/schemas/NAME"}), or null.
const boost::json::object* struct_of(const boost::json::value& schema, const boost::json::object& schemas) {
  const auto* o = schema.if_object();
  const auto* ref = o != nullptr ? o->if_contains("$ref") : nullptr;
  const std::string_view target = ref != nullptr && ref->is_string() ? std::string_view(ref->get_string()) : "";
  if (!target.starts_with(kSchemasRef)) return nullptr;
  const auto* found = schemas.if_contains(target.substr(kSchemasRef.size()));
  return found != nullptr ? found->if_object() : nullptr;
}

std::vector<std::string> path_parameters(std::string_view path) {
  std::vector<std::string> names;
  for (std::size_t at = 0; (at = path.find('{', at)) != std::string_view::npos;) {
    const std::size_t end = path.find('}', at);
    if (end == std::string_view::npos) break;
    names.emplace_back(path.substr(at + 1, end - at - 1));
    at = end;
  }
  return names;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_required(const boost::json::object& def, std::string_view name) {
  const auto* required = def.if_contains("required");
  if (required == nullptr || !required->is_array()) return false;
  for (const auto& r : required->get_array()) {
    if (r.is_string() && r.get_string() == name) return true;
  }
  return false;
}

// An error status the server may answer any route with, and what it carries.
struct ErrorStatus {
  std::string name;               // the component's name, HTTP's reason phrase
  std::vector<std::string> codes;  // the error codes sent with it
  std::string also;                // when the server itself answers with it
};

std::string reason_name(int status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 409: return "Conflict";
    case 412: return "PreconditionFailed";
    case 413: return "ContentTooLarge";
    case 429: return "TooManyRequests";
    case 431: return "RequestHeaderFieldsTooLarge";
    case 499: return "ClientClosedRequest";
    case 500: return "InternalServerError";
    case 501: return "NotImplemented";
    case 503: return "ServiceUnavailable";
    case 504: return "GatewayTimeout";
    default: return "Status" + std::to_string(status);
  }
}

// Every code a handler may throw, by its status (snap/error.h), and the statuses the
// server answers by itself (http_server.cc, api_server.cc: its limits, a request that is
// not valid HTTP or does not fit the request type, a handler queue that is full).
std::map<int, ErrorStatus> error_statuses() {
  std::map<int, ErrorStatus> out;
  for (ErrorCode code : all_error_codes()) out[http_status(code)].codes.emplace_back(to_string(code));
  const auto also = [&](int status, std::string_view code, std::string text) {
    ErrorStatus& s = out[status];
    if (!contains(s.codes, code)) s.codes.emplace_back(code);
    s.also = std::move(text);
  };
  also(400, "invalid_argument",
       "A request that does not fit the request type is invalid_argument, its message naming the field "
       "(\"request: $.limit: expected integer, got \\\"seven\\\"\").");
  also(413, "resource_exhausted", "The request body is larger than the server's body_limit.");
  also(429, "resource_exhausted",
       "Every handler thread is busy and the queue is full: the handler did not run; retry after backing off.");
  also(431, "resource_exhausted", "The request line and headers are larger than the server's header_limit.");
  also(500, "internal", "internal is the server's fault; the details are in its log.");
  also(501, "unimplemented", "A Transfer-Encoding other than chunked.");
  also(503, "resource_exhausted",
       "unavailable: the server is stopping or what it uses cannot be reached; retry later. resource_exhausted: it "
       "holds too many request bodies at once (Retry-After: 1).");
  for (auto& [status, s] : out) s.name = reason_name(status);
  return out;
}

boost::json::object error_schema() {
  boost::json::array codes;
  for (ErrorCode code : all_error_codes()) codes.emplace_back(to_string(code));
  return {
      {"type", "object"},
      {"description", "The one error format: the code says what the caller should do, the message is for people."},
      {"properties",
       boost::json::object{{"code", {{"type", "string"}, {"enum", std::move(codes)}}},
                           {"message", {{"type", "string"}}},
                           {"reason",
                            {{"type", "string"},
                             {"description",
                              "Present for a case a caller may act on: version_skew (failed_precondition) is a call "
                              "from another build of the program, refused before its handler ran."}}}}},
      {"required", {"code", "message"}},
  };
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

boost::json::object operation(const boost::json::object& endpoint, const boost::json::object& schemas,
                              const std::map<int, ErrorStatus>& errors) {
  const std::string method(endpoint.at("method").as_string());
  const std::string path(endpoint.at("path").as_string());
  const std::vector<std::string> in_path = path_parameters(path);
  const boost::json::value* request = endpoint.if_contains("request");
  const boost::json::value* response = endpoint.if_contains("response");
  const boost::json::object* def = request != nullptr ? struct_of(*request, schemas) : nullptr;
  const boost::json::object* properties = def != nullptr ? def->at("properties").if_object() : nullptr;
  const bool query = method == "GET" || method == "DELETE";

  boost::json::object op;
  op["operationId"] = operation_id(method, path);
  boost::json::array parameters;
  for (const std::string& name : in_path) {
    const boost::json::value* schema = properties != nullptr ? properties->if_contains(name) : nullptr;
    parameters.push_back({{"name", name},
                          {"in", "path"},
                          {"required", true},
                          {"schema", schema != nullptr ? rebased(*schema) : boost::json::object{{"type", "string"}}}});
  }
  if (query && properties != nullptr) {
    for (const auto& [name, schema] : *properties) {
      if (contains(in_path, name)) continue;
      parameters.push_back(
          {{"name", name}, {"in", "query"}, {"required", is_required(*def, name)}, {"schema", rebased(schema)}});
    }
  }
  if (!parameters.empty()) op["parameters"] = std::move(parameters);

  if (!query && request != nullptr) {
    boost::json::value body;
    if (in_path.empty() || properties == nullptr) {
      body = rebased(*request);
    } else {
      // The path's parameters win over the body's members of the same names
      // (route_binding.cc), so the body need not have them.
      boost::json::object rest;
      boost::json::array required;
      for (const auto& [name, schema] : *properties) {
        if (contains(in_path, name)) continue;
        rest[name] = rebased(schema);
        if (is_required(*def, name)) required.emplace_back(name);
      }
      boost::json::object o{{"type", "object"}, {"properties", std::move(rest)}};
      if (!required.empty()) o["required"] = std::move(required);
      body = std::move(o);
    }
    op["requestBody"] = {{"required", true}, {"content", {{"application/json", {{"schema", std::move(body)}}}}}};
  }

  boost::json::object responses;
  if (response != nullptr) {
    responses["200"] = {{"description", "OK"}, {"content", {{"application/json", {{"schema", rebased(*response)}}}}}};
  } else {
    responses["204"] = {{"description", "No content"}};
  }
  for (const auto& [status, s] : errors) {
    responses[std::to_string(status)] = {{"$ref", "#/components/responses/" + s.name}};
  }
  op["responses"] = std::move(responses);
  return op;
}

void print(std::string& out, const boost::json::value& v, std::size_t indent, bool sort_keys) {
  const std::string pad(indent + 2, ' ');
  if (const auto* o = v.if_object(); o != nullptr && !o->empty()) {
    std::vector<const boost::json::key_value_pair*> members;
    for (const auto& member : *o) members.push_back(&member);
    if (sort_keys) {
      std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) { return a->key() < b->key(); });
    }
    out += "{\n";
    for (std::size_t i = 0; i < members.size(); ++i) {
      out += pad;
      out += boost::json::serialize(boost::json::value(members[i]->key()));
      out += ": ";
      // A schema's properties keep the struct's order: the order its members are declared
      // and generated clients list them. A member named "properties" is not that object.
      print(out, members[i]->value(), indent + 2, !(sort_keys && members[i]->key() == "properties"));
      out += i + 1 < members.size() ? ",\n" : "\n";
    }
    out += std::string(indent, ' ') + "}";
  } else if (const auto* a = v.if_array(); a != nullptr && !a->empty()) {
    out += "[\n";
    for (std::size_t i = 0; i < a->size(); ++i) {
      out += pad;
      print(out, (*a)[i], indent + 2, true);
      out += i + 1 < a->size() ? ",\n" : "\n";
    }
    out += std::string(indent, ' ') + "]";
  } else {
    out += boost::json::serialize(v);
  }
}

// `value` as JSON text, indented by two spaces, keys sorted except those of a schema's
// "properties", with a final newline.
std::string pretty_json(const boost::json::value& value) {
  std::string out;
  print(out, value, 0, true);
  out += '\n';
  return out;
}

}  // namespace

Described describe_endpoints(const std::vector<EndpointTypes>& endpoints) {
  std::map<std::type_index, TypeShape> structs;
  for (const EndpointTypes& e : endpoints) {
    if (e.request != nullptr) collect_structs(e.request(), structs);
    if (e.response != nullptr) collect_structs(e.response(), structs);
  }
  const std::map<std::type_index, std::string> names = name_structs(structs);
  const auto ref = [&](const TypeShape& shape) {
    return std::string(kSchemasRef) + names.at(std::type_index(*shape.type));
  };
  Described out;
  std::map<std::string, boost::json::object> sorted;
  for (const auto& [type, shape] : structs) sorted.emplace(names.at(type), json_schema(shape, ref, true));
  for (auto& [name, schema] : sorted) out.schemas[name] = std::move(schema);
  for (const EndpointTypes& e : endpoints) {
    boost::json::object o{{"method", std::string(e.method)}, {"path", std::string(e.path)}, {"idempotent", e.idempotent}};
    if (e.request != nullptr) o["request"] = json_schema(e.request(), ref);
    if (e.response != nullptr) o["response"] = json_schema(e.response(), ref);
    out.endpoints.push_back(std::move(o));
  }
  return out;
}

std::string operation_id(std::string_view method, std::string_view path) {
  std::string id = lower(method);
  const auto words = [&id](std::string_view text) {
    bool word_starts = true;
    for (char c : text) {
      if (!is_alnum(c)) {
        word_starts = true;
        continue;
      }
      id += word_starts && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      word_starts = false;
    }
  };
  for (std::size_t at = 0; at < path.size();) {
    const std::size_t slash = path.find('/', at);
    const std::string_view segment = path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
    at = slash == std::string_view::npos ? path.size() : slash + 1;
    if (segment.size() >= 2 && segment.front() == '{' && segment.back() == '}') {
      id += "By";
      words(segment.substr(1, segment.size() - 2));
    } else {
      words(segment);
    }
  }
  return id;
}

std::string openapi_document(std::string_view title, const boost::json::object& config) {
  static const boost::json::array kNoEndpoints;
  static const boost::json::object kNoSchemas;
  const auto* listed = config.if_contains("endpoints");
  const auto* described = config.if_contains("schemas");
  const boost::json::array& endpoints = listed != nullptr && listed->is_array() ? listed->get_array() : kNoEndpoints;
  const boost::json::object& schemas =
      described != nullptr && described->is_object() ? described->get_object() : kNoSchemas;
  const std::map<int, ErrorStatus> errors = error_statuses();
  boost::json::object paths;
  for (const auto& e : endpoints) {
    const boost::json::object& endpoint = e.as_object();
    boost::json::value& item = paths[endpoint.at("path").as_string()];
    if (!item.is_object()) item.emplace_object();
    item.as_object()[lower(endpoint.at("method").as_string())] = operation(endpoint, schemas, errors);
  }
  boost::json::object component_schemas = rebased(schemas).as_object();
  component_schemas[kErrorSchema] = error_schema();  // no struct has this name (name_structs)
  boost::json::object responses;
  for (const auto& [status, s] : errors) {
    std::string description = "An error, in the error format: code ";
    for (std::size_t i = 0; i < s.codes.size(); ++i) {
      description += (i == 0 ? "" : i + 1 == s.codes.size() ? " or " : ", ") + s.codes[i];
    }
    description += ".";
    if (!s.also.empty()) description += " " + s.also;
    responses[s.name] = {{"description", std::move(description)},
                         {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
  }
  boost::json::object document{
      {"openapi", "3.1.0"},
      {"info", {{"title", std::string(title)}, {"version", "0"}}},
      {"paths", std::move(paths)},
      {"components", {{"schemas", std::move(component_schemas)}, {"responses", std::move(responses)}}},
  };
  // Both kinds answer a request without credentials 401 with `WWW-Authenticate: Bearer`
  // (api_server.cc), and the program's own callers send `Authorization: Bearer`.
  if (const auto* auth = config.if_contains("authentication"); auth != nullptr && auth->is_string()) {
    const bool token = auth->get_string() == "bearer_token";
    document["components"].as_object()["securitySchemes"] = {
        {"bearer",
         {{"type", "http"},
          {"scheme", "bearer"},
          {"description", token ? "The token is the value of the server's secret."
                                : "Checked by the server's own authentication hook, which may read other headers "
                                  "as well."}}}};
    document["security"] = boost::json::array{boost::json::object{{"bearer", boost::json::array()}}};
  }
  return pretty_json(document);
}

}  // namespace snap::api_detail

namespace snap {

BuildEmitter openapi_emitter() {
  return [](const App& app, const BuildOptions&, const std::filesystem::path& dir) {
    for (const Component* c : app.components()) {
      if (const auto* server = dynamic_cast<const ApiServer*>(c)) {
        write_file(app.env(), dir / "openapi" / (server->id().service_name() + ".json"), server->openapi());
      }
    }
  };
}

}  // namespace snap
