// What the Kubernetes tests share: a reader for the YAML the build writes (so that the tests
// look at the very files a user applies), and a NetworkPolicy evaluator that says which pod
// may open a connection to which, by the rules of the Kubernetes API (selectors, policy
// types, peers, ports).
//
// The reader takes the emitter's subset of YAML: block mappings and sequences, JSON-quoted
// strings (and single-quoted ones, which bin/kube/NAME appends), numbers, booleans, `{}`
// and `[]`, `#` comment lines and `---` between documents.
// Anything else is an error, so the reader cannot quietly read a file differently from a
// real parser: the kube-apiserver test also compares each object read here with the
// object the server stored from the same bytes.
#pragma once

#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "snap/deploy.h"

namespace snap::kube_test {

namespace json = boost::json;

class YamlReader {
 public:
  explicit YamlReader(const std::string& text) {
    std::istringstream in(text);
    std::vector<Line> doc;
    for (std::string line; std::getline(in, line);) {
      if (line == "---") {
        docs_.push_back(std::move(doc));
        doc.clear();
        continue;
      }
      const std::size_t indent = line.find_first_not_of(' ');
      if (indent == std::string::npos || line[indent] == '#') continue;
      doc.push_back({static_cast<int>(indent), line.substr(indent)});
    }
    if (!doc.empty()) docs_.push_back(std::move(doc));
  }

  std::vector<json::value> documents() {
    std::vector<json::value> out;
    for (auto& doc : docs_) {
      lines_ = &doc;
      at_ = 0;
      if (doc.empty()) continue;
      out.push_back(block(doc[0].indent));
      if (at_ != doc.size()) fail("unexpected indentation");
    }
    return out;
  }

 private:
  struct Line {
    int indent;
    std::string text;
  };

  [[noreturn]] void fail(const std::string& why) const {
    const std::string where = at_ < lines_->size() ? (*lines_)[at_].text : "end of document";
    throw std::runtime_error("yaml: " + why + " at: " + where);
  }

  static bool is_item(const std::string& text) { return text == "-" || text.rfind("- ", 0) == 0; }

  json::value block(int indent) {
    if (is_item((*lines_)[at_].text)) return sequence(indent);
    return mapping(indent);
  }

  json::value sequence(int indent) {
    json::array out;
    while (at_ < lines_->size() && (*lines_)[at_].indent == indent && is_item((*lines_)[at_].text)) {
      Line& line = (*lines_)[at_];
      if (line.text == "-") {
        ++at_;
        out.push_back(nested(indent));
        continue;
      }
      const std::string rest = line.text.substr(2);
      if (starts_key(rest)) {
        // "- key: value": a mapping whose first key stands two columns right of the dash.
        line.indent = indent + 2;
        line.text = rest;
        out.push_back(mapping(indent + 2));
      } else {
        out.push_back(scalar(rest));
        ++at_;
      }
    }
    return out;
  }

  json::value mapping(int indent) {
    json::object out;
    while (at_ < lines_->size() && (*lines_)[at_].indent == indent && !is_item((*lines_)[at_].text)) {
      const std::string& text = (*lines_)[at_].text;
      std::size_t end = 0;
      const std::string key = read_key(text, end);
      if (out.contains(key)) fail("a repeated key");
      const std::string rest = text.substr(end);
      ++at_;
      out[key] = rest.empty() ? nested(indent) : scalar(rest.substr(1));
    }
    if (at_ < lines_->size() && (*lines_)[at_].indent > indent) fail("unexpected indentation");
    return out;
  }

  json::value nested(int parent) {
    if (at_ >= lines_->size() || (*lines_)[at_].indent <= parent) fail("a key without a value");
    return block((*lines_)[at_].indent);
  }

  // The key at the start of `text` and, in `end`, where ":" ends ("" or " value" follows).
  std::string read_key(const std::string& text, std::size_t& end) const {
    std::string key;
    std::size_t colon = 0;
    if (text[0] == '"') {
      const std::size_t close = string_end(text);
      key = json::parse(text.substr(0, close)).as_string().c_str();
      colon = close;
    } else {
      colon = text.find(':');
      if (colon == std::string::npos) fail("no key");
      key = text.substr(0, colon);
    }
    if (colon >= text.size() || text[colon] != ':') fail("no ':' after the key");
    end = colon + 1;
    if (end < text.size() && text[end] != ' ') fail("no space after ':'");
    return key;
  }

  bool starts_key(const std::string& text) const {
    if (text[0] == '"') {
      const std::size_t close = string_end(text);
      return close < text.size() && text[close] == ':';
    }
    return text.find(": ") != std::string::npos || (!text.empty() && text.back() == ':');
  }

  // One past the closing quote of the JSON string `text` starts with.
  std::size_t string_end(const std::string& text) const {
    for (std::size_t i = 1; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        return i + 1;
      }
    }
    fail("an unterminated string");
  }

  json::value scalar(const std::string& text) const {
    if (text == "{}") return json::object{};
    if (text == "[]") return json::array{};
    if (text == "true") return true;
    if (text == "false") return false;
    if (text == "null") return nullptr;
    if (text[0] == '"') {
      if (string_end(text) != text.size()) fail("text after a string");
      return json::parse(text);
    }
    if (text[0] == '\'') return single_quoted(text);
    if (text.find_first_not_of("-0123456789") == std::string::npos) return json::parse(text);
    fail("a scalar that is neither quoted, a number nor a boolean");
  }

  // 'text', where '' stands for one quote.
  json::value single_quoted(const std::string& text) const {
    std::string out;
    for (std::size_t i = 1; i < text.size(); ++i) {
      if (text[i] != '\'') {
        out += text[i];
      } else if (i + 1 < text.size() && text[i + 1] == '\'') {
        out += '\'';
        ++i;
      } else if (i + 1 == text.size()) {
        return json::string(out);
      } else {
        break;
      }
    }
    fail("a single-quoted string that does not end where the line does");
  }

  std::vector<std::vector<Line>> docs_;
  std::vector<Line>* lines_ = nullptr;
  std::size_t at_ = 0;
};

inline std::vector<json::value> read_yaml(const std::string& text) { return YamlReader(text).documents(); }

// ---- the NetworkPolicy evaluator ----

struct Pod {
  std::string service;  // the service it is a pod of
  std::string namespace_name;
  json::object labels;
  std::map<std::string, std::int64_t> named_ports;  // containerPort by name
  std::set<std::int64_t> ports;                     // every containerPort
};

inline const json::object* object_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}
inline const json::array* array_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? &v->as_array() : nullptr;
}

// A LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist).
inline bool selects(const json::object& selector, const json::object& labels) {
  if (const json::object* match = object_at(selector, "matchLabels")) {
    for (const auto& [key, value] : *match) {
      const json::value* have = labels.if_contains(key);
      if (have == nullptr || *have != value) return false;
    }
  }
  if (const json::array* expressions = array_at(selector, "matchExpressions")) {
    for (const json::value& e : *expressions) {
      const json::object& expression = e.as_object();
      const json::value* have = labels.if_contains(expression.at("key").as_string());
      const std::string op(expression.at("operator").as_string());
      bool listed = false;
      if (const json::array* values = array_at(expression, "values")) {
        for (const json::value& v : *values) listed = listed || (have != nullptr && *have == v);
      }
      if (op == "In" && !listed) return false;
      if (op == "NotIn" && listed) return false;
      if (op == "Exists" && have == nullptr) return false;
      if (op == "DoesNotExist" && have != nullptr) return false;
      if (op != "In" && op != "NotIn" && op != "Exists" && op != "DoesNotExist") {
        throw std::runtime_error("selector operator " + op);
      }
    }
  }
  return true;
}

// A NetworkPolicyPeer, seen from a policy in `policy_namespace`. Namespaces carry the label
// kubernetes.io/metadata.name only (what the API server sets).
inline bool peer_matches(const json::object& peer, const std::string& policy_namespace, const Pod& pod) {
  if (peer.contains("ipBlock")) throw std::runtime_error("an ipBlock peer, which this evaluator does not model");
  const json::object* pods = object_at(peer, "podSelector");
  const json::object* namespaces = object_at(peer, "namespaceSelector");
  if (namespaces == nullptr) {
    if (pod.namespace_name != policy_namespace) return false;
  } else if (!selects(*namespaces, {{"kubernetes.io/metadata.name", pod.namespace_name}})) {
    return false;
  }
  return pods == nullptr || selects(*pods, pod.labels);
}

// NetworkPolicyPorts: none means every port; a port by number or by the destination's name.
inline bool port_matches(const json::array* ports, const Pod& destination, std::int64_t port, const std::string& protocol) {
  if (ports == nullptr || ports->empty()) return true;
  for (const json::value& p : *ports) {
    const json::object& rule = p.as_object();
    const json::value* proto = rule.if_contains("protocol");
    if ((proto != nullptr ? std::string(proto->as_string()) : "TCP") != protocol) continue;
    const json::value* number = rule.if_contains("port");
    if (number == nullptr) return true;
    std::int64_t first = 0;
    if (number->is_string()) {
      const auto named = destination.named_ports.find(std::string(number->as_string()));
      if (named == destination.named_ports.end()) continue;
      first = named->second;
    } else {
      first = number->to_number<std::int64_t>();
    }
    const json::value* end = rule.if_contains("endPort");
    const std::int64_t last = end != nullptr ? end->to_number<std::int64_t>() : first;
    if (port >= first && port <= last) return true;
  }
  return false;
}

struct Policy {
  std::string namespace_name;
  json::object spec;
};

inline bool has_type(const Policy& p, const std::string& type) {
  if (const json::array* types = array_at(p.spec, "policyTypes")) {
    for (const json::value& t : *types) {
      if (t.as_string() == type) return true;
    }
    return false;
  }
  // Without policyTypes: Ingress always, Egress when it has egress rules.
  return type == "Ingress" || p.spec.contains("egress");
}

// Whether `pod` may send (direction "Egress", to `other`) or accept ("Ingress", from
// `other`) a connection on `port`: allowed when no policy of that type selects it, else
// when a rule of one of those that do matches the peer and the port.
inline bool direction_allows(const std::vector<Policy>& policies, const std::string& direction, const Pod& pod,
                             const Pod& other, const Pod& destination, std::int64_t port, const std::string& protocol) {
  const bool egress = direction == "Egress";
  bool isolated = false;
  for (const Policy& p : policies) {
    if (p.namespace_name != pod.namespace_name || !has_type(p, direction)) continue;
    if (!selects(p.spec.at("podSelector").as_object(), pod.labels)) continue;
    isolated = true;
    const json::array* rules = array_at(p.spec, egress ? "egress" : "ingress");
    if (rules == nullptr) continue;
    for (const json::value& r : *rules) {
      const json::object& rule = r.as_object();
      const json::array* peers = array_at(rule, egress ? "to" : "from");
      bool peer_ok = peers == nullptr || peers->empty();
      if (peers != nullptr) {
        for (const json::value& peer : *peers) peer_ok = peer_ok || peer_matches(peer.as_object(), p.namespace_name, other);
      }
      if (peer_ok && port_matches(array_at(rule, "ports"), destination, port, protocol)) return true;
    }
  }
  return !isolated;
}

inline bool connection_allowed(const std::vector<Policy>& policies, const Pod& from, const Pod& to, std::int64_t port,
                               const std::string& protocol = "TCP") {
  return direction_allows(policies, "Egress", from, to, to, port, protocol) &&
         direction_allows(policies, "Ingress", to, from, to, port, protocol);
}

// The pod a workload (Deployment, StatefulSet, Job, a Job template) runs, by its template.
inline Pod pod_of(const json::object& workload, const std::string& namespace_name, const std::string& service) {
  const json::object& tmpl = workload.at("spec").at("template").as_object();
  Pod pod{service, namespace_name, tmpl.at("metadata").at("labels").as_object(), {}, {}};
  for (const json::value& c : tmpl.at("spec").at("containers").as_array()) {
    if (const json::array* ports = array_at(c.as_object(), "ports")) {
      for (const json::value& p : *ports) {
        const std::int64_t number = p.at("containerPort").to_number<std::int64_t>();
        pod.ports.insert(number);
        if (const json::value* name = p.as_object().if_contains("name")) pod.named_ports[std::string(name->as_string())] = number;
      }
    }
  }
  return pod;
}

// ---- the generated objects as a cluster would hold them ----

struct Cluster {
  std::vector<json::object> objects;  // every object of kubernetes/ (commands' templates included)
  std::vector<Pod> pods;              // one per workload
  std::vector<Policy> policies;
  std::vector<json::object> services;
};

// The service a pod of the app belongs to: its persona's or database's label.
inline std::string service_label(const json::object& labels) {
  for (const char* key : {"snap/persona", "snap/database"}) {
    if (const json::value* v = labels.if_contains(key)) return std::string(v->as_string());
  }
  return "";
}

inline bool is_manifest(const std::string& path) {
  return path.rfind("kubernetes/", 0) == 0 && path.size() > 5 && path.compare(path.size() - 5, 5, ".yaml") == 0 &&
         path != "kubernetes/kustomization.yaml";
}

// Every object of the files under kubernetes/, as if applied in `namespace_name`.
inline Cluster cluster_of(const std::vector<DeployFile>& files, const std::string& namespace_name) {
  Cluster c;
  for (const DeployFile& f : files) {
    if (!is_manifest(f.path)) continue;
    for (json::value& doc : read_yaml(f.content)) {
      json::object& o = doc.as_object();
      const std::string kind(o.at("kind").as_string());
      if (kind == "Deployment" || kind == "StatefulSet" || kind == "Job") {
        const json::object& labels = o.at("spec").at("template").at("metadata").at("labels").as_object();
        c.pods.push_back(pod_of(o, namespace_name, service_label(labels)));
      } else if (kind == "NetworkPolicy") {
        c.policies.push_back({namespace_name, o.at("spec").as_object()});
      } else if (kind == "Service") {
        c.services.push_back(o);
      }
      c.objects.push_back(std::move(o));
    }
  }
  return c;
}

using Pairs = std::set<std::pair<std::string, std::string>>;

// Which service's pods may open a connection to which other service's pods, on any of the
// destination's container ports (or, for a pod that declares none, on an arbitrary one).
inline Pairs reachable_pairs(const Cluster& c) {
  Pairs out;
  for (const Pod& from : c.pods) {
    for (const Pod& to : c.pods) {
      if (from.service == to.service) continue;
      std::set<std::int64_t> ports = to.ports;
      ports.insert(1);
      for (std::int64_t port : ports) {
        if (connection_allowed(c.policies, from, to, port)) out.emplace(from.service, to.service);
      }
    }
  }
  return out;
}

}  // namespace snap::kube_test
