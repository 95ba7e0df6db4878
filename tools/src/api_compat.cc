#include "snap/api_compat.h"

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "snap/component_type.h"
#include "snap/text.h"

namespace snap {

namespace {

namespace json = boost::json;

constexpr std::string_view kSchemasRef = "#/schemas/";

// Which way a value travels during the upgrade: a request from an old client to the new
// server, a response from the new server to an old client. It decides which of two
// schemas must accept everything the other allows.
enum class Flow { kRequest, kResponse };

// A change found inside one endpoint, before it is named after the endpoint.
struct Found {
  bool breaking = false;
  std::string field;
  std::string what;
};

// A schema as the codec's rules describe it (snap/json_schema.h), a `$ref` followed.
struct Type {
  // boolean, integer, number, string, any, array, map, object; "unknown" for a schema no
  // type of the codec gives (compared as text).
  std::string kind;
  bool nullable = false;
  const json::object* schema = nullptr;
  std::string ref;  // an object's struct name
};

bool is_null_schema(const json::value& v) {
  const json::object* o = v.if_object();
  if (o == nullptr || o->size() != 1) return false;
  const json::value* type = o->if_contains("type");
  return type != nullptr && type->is_string() && type->get_string() == "null";
}

Type type_of(const json::value& v, const json::object& schemas) {
  Type t;
  t.kind = "unknown";
  const json::object* o = v.if_object();
  if (o == nullptr) return t;
  t.schema = o;
  // An optional element or whole body: {"anyOf": [S, {"type": "null"}]} for a struct.
  if (const json::value* any_of = o->if_contains("anyOf")) {
    const json::array* a = any_of->if_array();
    if (a != nullptr && a->size() == 2 && o->size() == 1) {
      for (std::size_t i = 0; i < 2; ++i) {
        if (!is_null_schema((*a)[i])) continue;
        Type inner = type_of((*a)[1 - i], schemas);
        inner.nullable = true;
        return inner;
      }
    }
    return t;
  }
  if (const json::value* ref = o->if_contains("$ref")) {
    const std::string_view target = ref->is_string() ? std::string_view(ref->get_string()) : "";
    if (!target.starts_with(kSchemasRef)) return t;
    const json::value* def = schemas.if_contains(target.substr(kSchemasRef.size()));
    if (def == nullptr || !def->is_object()) return t;
    t.kind = "object";
    t.schema = &def->get_object();
    t.ref = std::string(target.substr(kSchemasRef.size()));
    return t;
  }
  const json::value* type = o->if_contains("type");
  if (type == nullptr) {
    if (o->empty()) t.kind = "any";
    return t;
  }
  std::string_view name;
  if (type->is_string()) {
    name = type->get_string();
  } else if (const json::array* a = type->if_array(); a != nullptr && a->size() == 2) {
    // A scalar that may be null: {"type": [T, "null"]}.
    for (std::size_t i = 0; i < 2; ++i) {
      if ((*a)[i].is_string() && (*a)[i].get_string() == "null" && (*a)[1 - i].is_string()) {
        name = (*a)[1 - i].get_string();
        t.nullable = true;
      }
    }
  }
  if (name == "object") {
    t.kind = o->contains("additionalProperties") ? "map" : "object";
  } else if (name == "boolean" || name == "integer" || name == "number" || name == "string" || name == "array") {
    t.kind = std::string(name);
  }
  return t;
}

// How a type is named in a message: a struct by its name, anything else by its kind.
std::string show(const Type& t) {
  if (!t.ref.empty()) return t.ref;
  if (t.kind == "any") return "any value";
  return t.kind;
}

// An integer's range as its schema records it; bounds it lacks are unbounded.
struct Range {
  std::int64_t min = std::numeric_limits<std::int64_t>::min();
  std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  bool operator==(const Range&) const = default;
  // Every value of `other` is one of these.
  bool holds(const Range& other) const { return min <= other.min && max >= other.max; }
  std::string str() const { return "integer [" + std::to_string(min) + ", " + std::to_string(max) + "]"; }
};

Range range_of(const json::object& schema) {
  Range r;
  boost::system::error_code ec;
  if (const json::value* v = schema.if_contains("minimum")) {
    const auto min = v->to_number<std::int64_t>(ec);
    if (!ec) r.min = min;
  }
  if (const json::value* v = schema.if_contains("maximum")) {
    ec.clear();
    const auto max = v->to_number<std::uint64_t>(ec);
    if (!ec) r.max = max;
  }
  return r;
}

// 32 for "float", 64 for "double" (and a number without a format).
int bits_of(const json::object& schema) {
  const json::value* format = schema.if_contains("format");
  return format != nullptr && format->is_string() && format->get_string() == "float" ? 32 : 64;
}

std::string bits_name(int bits) { return bits == 32 ? "number float" : "number double"; }

// Compares what one side of an endpoint carries, old against new, for one flow.
class Comparer {
 public:
  Comparer(const json::object& old_schemas, const json::object& new_schemas, Flow flow, std::vector<Found>& out)
      : old_schemas_(old_schemas), new_schemas_(new_schemas), flow_(flow), out_(out) {}

  void compare(const json::value& old_schema, const json::value& new_schema, const std::string& field) {
    const Type a = type_of(old_schema, old_schemas_), b = type_of(new_schema, new_schemas_);
    const std::string s = subject(field);
    if (a.nullable != b.nullable) {
      if (request()) {
        if (a.nullable) {
          add(true, field, s + " no longer accepts null: old clients that send null will be refused");
        } else {
          add(false, field, s + " now accepts null");
        }
      } else if (b.nullable) {
        add(true, field, s + " may now be null: old clients will not read it");
      } else {
        add(false, field, s + " is never null now");
      }
    }
    if (a.kind == "unknown" || b.kind == "unknown") {
      const std::string x = json::serialize(old_schema), y = json::serialize(new_schema);
      if (x != y) add(true, field, s + " changed in a way this check cannot judge: " + x + " -> " + y);
      return;
    }
    if (a.kind == b.kind) {
      same_kind(a, b, field);
      return;
    }
    // The side that must accept what the other sends.
    const Type& sender = request() ? a : b;
    const Type& receiver = request() ? b : a;
    const std::string change = show(a) + " -> " + show(b);
    if (receiver.kind == "any") {
      add(false, field,
          s + (request() ? " now accepts any value (was " + show(a) + ")"
                         : " is now always " + show(b) + " (was any value)"));
    } else if (sender.kind == "integer" && receiver.kind == "number") {
      add(false, field, s + (request() ? " is widened: " : " is narrowed: ") + change);
    } else {
      add(true, field, s + " is retyped: " + change + consequence());
    }
  }

 private:
  bool request() const { return flow_ == Flow::kRequest; }

  std::string subject(const std::string& field) const {
    const std::string body = request() ? "request" : "response";
    return field.empty() ? body : body + " field \"" + field + "\"";
  }

  // What a breaking change of type does to old clients.
  std::string consequence() const {
    return request() ? ": old clients will be refused" : ": old clients will not read it";
  }

  void add(bool breaking, const std::string& field, std::string what) {
    out_.push_back({breaking, field, std::move(what)});
  }

  // A change of range (integers) or precision (numbers): compatible when the receiving
  // side holds every value of the sending side.
  void resized(bool wider, bool narrower, const std::string& field, const std::string& change,
               const std::string& old_range) {
    const std::string s = subject(field);
    const bool safe = request() ? wider : narrower;
    const std::string how = wider ? " is widened: " : narrower ? " is narrowed: " : " changes range: ";
    if (safe) {
      add(false, field, s + how + change);
    } else if (request()) {
      add(true, field, s + how + change + ": old clients' values outside the new range will be refused");
    } else {
      add(true, field, s + how + change + ": old clients will not read values outside " + old_range);
    }
  }

  void same_kind(const Type& a, const Type& b, const std::string& field) {
    if (a.kind == "integer") {
      const Range x = range_of(*a.schema), y = range_of(*b.schema);
      if (x != y) resized(y.holds(x), x.holds(y), field, x.str() + " -> " + y.str(), x.str());
    } else if (a.kind == "number") {
      const int x = bits_of(*a.schema), y = bits_of(*b.schema);
      if (x != y) resized(y > x, y < x, field, bits_name(x) + " -> " + bits_name(y), bits_name(x));
    } else if (a.kind == "array") {
      compare(element(*a.schema, "items"), element(*b.schema, "items"), field + "[]");
    } else if (a.kind == "map") {
      compare(element(*a.schema, "additionalProperties"), element(*b.schema, "additionalProperties"), field + "{}");
    } else if (a.kind == "object") {
      structs(a, b, field);
    }
  }

  static const json::value& element(const json::object& schema, std::string_view key) {
    static const json::value kAny = json::object();
    const json::value* v = schema.if_contains(key);
    return v != nullptr ? *v : kAny;
  }

  static std::set<std::string> required_of(const json::object& schema) {
    std::set<std::string> out;
    if (const json::value* r = schema.if_contains("required"); r != nullptr && r->is_array()) {
      for (const json::value& name : r->get_array()) {
        if (name.is_string()) out.emplace(name.get_string());
      }
    }
    return out;
  }

  static const json::object& properties_of(const json::object& schema) {
    static const json::object kNone;
    const json::value* p = schema.if_contains("properties");
    return p != nullptr && p->is_object() ? p->get_object() : kNone;
  }

  void structs(const Type& a, const Type& b, const std::string& field) {
    // A struct that holds itself (a tree's children) is compared once, where it is met
    // first: its members' changes are reported there.
    const std::pair<std::string, std::string> pair{a.ref, b.ref};
    const bool named = !a.ref.empty() && !b.ref.empty();
    if (named && !open_.insert(pair).second) return;
    const json::object &pa = properties_of(*a.schema), &pb = properties_of(*b.schema);
    const std::set<std::string> ra = required_of(*a.schema), rb = required_of(*b.schema);
    const auto member = [&field](std::string_view name) {
      return field.empty() ? std::string(name) : field + "." + std::string(name);
    };
    for (const auto& [name, schema] : pb) {
      const std::string f = member(name);
      const std::string s = subject(f);
      const bool now_required = rb.count(std::string(name)) > 0;
      const json::value* before = pa.if_contains(name);
      if (before == nullptr) {
        if (!request()) {
          add(false, f, s + " is new: old clients ignore it");
        } else if (now_required) {
          add(true, f, s + " is new and required: old clients will be refused");
        } else {
          add(false, f, s + " is new and optional");
        }
        continue;
      }
      const bool was_required = ra.count(std::string(name)) > 0;
      if (was_required && !now_required) {
        if (request()) {
          add(false, f, s + " was required and is now optional");
        } else {
          add(true, f, s + " was required and is now optional: old clients require it");
        }
      } else if (!was_required && now_required) {
        if (request()) {
          add(true, f, s + " was optional and is now required: old clients that leave it out will be refused");
        } else {
          add(false, f, s + " was optional and is now required");
        }
      }
      compare(*before, schema, f);
    }
    for (const auto& [name, schema] : pa) {
      if (pb.contains(name)) continue;
      const std::string f = member(name);
      const std::string s = subject(f);
      if (request()) {
        add(false, f, s + " is removed: old clients' value is ignored");
      } else if (ra.count(std::string(name)) > 0) {
        add(true, f, s + " is removed: old clients require it");
      } else {
        add(true, f, s + " is removed: old clients that read it will not find it");
      }
    }
    if (named) open_.erase(pair);
  }

  const json::object& old_schemas_;
  const json::object& new_schemas_;
  Flow flow_;
  std::vector<Found>& out_;
  std::set<std::pair<std::string, std::string>> open_;  // structs being compared
};

// ---- servers and endpoints ----

struct Endpoint {
  std::string key;  // "METHOD /path"
  bool idempotent = false;
  const json::value* request = nullptr;  // null: void
  const json::value* response = nullptr;
};

struct Server {
  json::value config;
  // Null for a server recorded before endpoints recorded their types.
  const json::object* schemas = nullptr;
  std::vector<Endpoint> endpoints;
};

// The ApiServers of a manifest by id, and their ids in manifest order.
struct Servers {
  std::map<std::string, Server> by_id;
  std::vector<std::string> order;
};

Servers servers_of(const Manifest& manifest) {
  Servers out;
  for (const ComponentEntry& c : manifest.components) {
    if (component_type_of(c.type) != ComponentType::kApiServer) continue;
    Server& server = out.by_id[c.id];
    out.order.push_back(c.id);
    boost::system::error_code ec;
    server.config = json::parse(c.config, ec);
    const json::object* config = ec ? nullptr : server.config.if_object();
    if (config == nullptr) continue;
    if (const json::value* s = config->if_contains("schemas")) server.schemas = s->if_object();
    const json::value* listed = config->if_contains("endpoints");
    if (listed == nullptr || !listed->is_array()) continue;
    for (const json::value& e : listed->get_array()) {
      const json::object* o = e.if_object();
      const json::value* method = o != nullptr ? o->if_contains("method") : nullptr;
      const json::value* path = o != nullptr ? o->if_contains("path") : nullptr;
      if (method == nullptr || path == nullptr || !method->is_string() || !path->is_string()) continue;
      Endpoint endpoint;
      endpoint.key = std::string(method->get_string()) + " " + std::string(path->get_string());
      const json::value* idempotent = o->if_contains("idempotent");
      endpoint.idempotent = idempotent != nullptr && idempotent->is_bool() && idempotent->get_bool();
      endpoint.request = o->if_contains("request");
      endpoint.response = o->if_contains("response");
      server.endpoints.push_back(endpoint);
    }
  }
  return out;
}

const Endpoint* find(const Server& server, const std::string& key) {
  for (const Endpoint& e : server.endpoints) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

std::string endpoint_count(std::size_t n) { return std::to_string(n) + (n == 1 ? " endpoint" : " endpoints"); }

class Report {
 public:
  Report(ApiDiff& out, std::string server) : out_(out), server_(std::move(server)) {}

  void add(bool breaking, const std::string& endpoint, const std::string& field, const std::string& what) {
    const std::string where = endpoint.empty() ? server_ : endpoint + " (" + server_ + ")";
    (breaking ? out_.breaking : out_.compatible).push_back({server_, endpoint, field, where + ": " + what});
  }

 private:
  ApiDiff& out_;
  std::string server_;
};

// What one side of an endpoint carries (request or response), void on either side included.
void compare_body(Flow flow, const json::value* a, const json::value* b, const Server& old_server,
                  const Server& new_server, std::vector<Found>& out) {
  if (a == nullptr && b == nullptr) return;
  const bool request = flow == Flow::kRequest;
  if (a == nullptr) {
    const std::string now = show(type_of(*b, *new_server.schemas));
    out.push_back({true, "",
                   request ? "request was void and is now " + now + ": old clients send none and will be refused"
                           : "response was void and is now " + now + ": old clients expect 204 No Content"});
    return;
  }
  if (b == nullptr) {
    const std::string was = show(type_of(*a, *old_server.schemas));
    out.push_back({true, "",
                   request ? "request is now void (was " + was + "): what old clients send is no longer read"
                           : "response is now void (was " + was + "): old clients expect one and get 204 No Content"});
    return;
  }
  Comparer(*old_server.schemas, *new_server.schemas, flow, out).compare(*a, *b, "");
}

std::vector<Found> compare_types(const Endpoint& a, const Endpoint& b, const Server& old_server,
                                 const Server& new_server) {
  std::vector<Found> found;
  compare_body(Flow::kRequest, a.request, b.request, old_server, new_server, found);
  compare_body(Flow::kResponse, a.response, b.response, old_server, new_server, found);
  return found;
}

void diff_server(const Server& a, const Server& b, Report& report, ApiDiff& out, const std::string& id) {
  const bool typed = a.schemas != nullptr && b.schemas != nullptr;
  if (!typed) {
    out.not_compared.push_back(id + ": request and response types not compared (the " +
                               (a.schemas == nullptr ? "old" : "new") +
                               " build predates their recording): only routes and idempotence were");
  }
  std::vector<const Endpoint*> removed, added;
  for (const Endpoint& e : a.endpoints) {
    if (find(b, e.key) == nullptr) removed.push_back(&e);
  }
  for (const Endpoint& e : b.endpoints) {
    const Endpoint* before = find(a, e.key);
    if (before == nullptr) {
      added.push_back(&e);
      continue;
    }
    if (before->idempotent != e.idempotent) {
      report.add(false, e.key, "",
                 e.idempotent ? "now idempotent: callers retry it after a failure"
                              : "no longer idempotent: old clients may still retry it after a failure");
    }
    if (!typed) continue;
    for (const Found& f : compare_types(*before, e, a, b)) report.add(f.breaking, e.key, f.field, f.what);
  }
  // An endpoint gone while one of identical types appears: moved, one change.
  std::set<const Endpoint*> moved_to;
  for (const Endpoint* r : removed) {
    const Endpoint* target = nullptr;
    for (const Endpoint* n : added) {
      if (typed && !moved_to.count(n) && compare_types(*r, *n, a, b).empty()) {
        target = n;
        break;
      }
    }
    if (target != nullptr) {
      moved_to.insert(target);
      report.add(true, r->key, "", "moved to " + target->key + ": old clients calling it will get 404 not_found");
    } else {
      report.add(true, r->key, "", "removed: old clients calling it will get 404 not_found");
    }
  }
  for (const Endpoint* n : added) {
    if (!moved_to.count(n)) report.add(false, n->key, "", "new endpoint");
  }
}

std::string count(std::size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

bool has_api_servers(const Manifest& manifest) {
  for (const ComponentEntry& c : manifest.components) {
    if (component_type_of(c.type) == ComponentType::kApiServer) return true;
  }
  return false;
}

ApiDiff diff_apis(const Manifest& before, const Manifest& after) {
  const Servers a = servers_of(before), b = servers_of(after);
  ApiDiff out;
  for (const std::string& id : b.order) {
    Report report(out, id);
    const Server& server = b.by_id.at(id);
    const auto old = a.by_id.find(id);
    if (old == a.by_id.end()) {
      report.add(false, "", "", "new server with " + endpoint_count(server.endpoints.size()));
    } else {
      diff_server(old->second, server, report, out, id);
    }
  }
  for (const std::string& id : a.order) {
    if (b.by_id.count(id)) continue;
    Report report(out, id);
    report.add(true, "", "",
               "server removed: old clients will reach none of its " + endpoint_count(a.by_id.at(id).endpoints.size()));
  }
  return out;
}

void api_text(const ApiDiff& diff, std::ostream& out) {
  const std::size_t b = diff.breaking.size(), c = diff.compatible.size();
  out << "api: ";
  if (b == 0 && c == 0) {
    out << "no change";
  } else if (b == 0) {
    out << count(c, "compatible change") << ", no breaking change";
  } else if (c == 0) {
    out << count(b, "breaking change");
  } else {
    out << count(b, "breaking change") << ", " << count(c, "compatible change");
  }
  out << "\n";
  for (const ApiChange& change : diff.breaking) out << "  breaking: " << printable(change.message) << "\n";
  for (const ApiChange& change : diff.compatible) out << "  compatible: " << printable(change.message) << "\n";
  for (const std::string& note : diff.not_compared) out << "  not compared: " << printable(note) << "\n";
}

}  // namespace snap
