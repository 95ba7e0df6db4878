#include "snap/log_graph.h"

#include <boost/json.hpp>
#include <map>
#include <sstream>
#include <vector>

#include "snap/component_type.h"
#include "snap/system_view.h"
#include "snap/text.h"

namespace snap {

namespace {

// A DOT double-quoted string: only '"' and '\' need escaping; printable() keeps it one line.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : printable(s)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A label's lines joined with DOT's centred line break. Each line is escaped by quote().
std::string label(const std::vector<std::string>& lines) {
  std::string body;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string q = quote(lines[i]);
    body += (i ? "\\n" : "") + q.substr(1, q.size() - 2);
  }
  return "\"" + body + "\"";
}

std::string short_name(const std::string& id, const std::string& parent) {
  return parent.empty() ? id : id.substr(parent.size() + 1);
}

boost::json::object config_of(const ComponentEntry& c) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(c.config, ec);
  if (!ec && v.is_object()) return v.as_object();
  return {};
}

std::string attributes(const ComponentEntry& c, const std::string& name, const SystemView& view,
                       const std::map<std::string, const PersonaView*>& personas) {
  std::vector<std::string> lines{name, c.type};
  const boost::json::object config = config_of(c);
  std::string shape = "box", style = "rounded";
  const ComponentType type = component_type_of(c.type);
  if (type == ComponentType::kApiServer) {
    if (const auto* p = config.if_contains("port"); p && p->is_int64()) lines.push_back("port " + std::to_string(p->as_int64()));
    if (const auto* eps = config.if_contains("endpoints"); eps && eps->is_array()) {
      for (const auto& ep : eps->as_array()) {
        if (!ep.is_object()) continue;
        const auto* m = ep.as_object().if_contains("method");
        const auto* p = ep.as_object().if_contains("path");
        if (m && p && m->is_string() && p->is_string()) {
          lines.push_back(std::string(m->as_string()) + " " + std::string(p->as_string()));
        }
      }
    }
  } else if (type == ComponentType::kPort) {
    shape = "plaintext";
    style = "";
    if (const auto* p = config.if_contains("port"); p && p->is_int64()) lines = {name + " :" + std::to_string(p->as_int64())};
  } else if (holds_a_secret(type)) {
    shape = "note";
    style = "";
    if (auto it = view.secrets.find(c.id); it != view.secrets.end() && !it->second.empty()) {
      lines.push_back("secret " + it->second.front());
    }
  } else if (config.contains("table") || type == ComponentType::kPostgres) {
    shape = "cylinder";
    style = "";
    if (const auto* t = config.if_contains("table"); t && t->is_string()) lines.push_back("table " + std::string(t->as_string()));
  }
  if (auto it = personas.find(c.id); it != personas.end()) {
    lines.insert(lines.begin() + 1, "[" + c.persona + "]");
    style = c.persona == "daemon" ? "bold" : "dashed";
    if (!it->second->secrets.empty()) {
      std::string s = "secrets:";
      for (const std::string& name : it->second->secrets) s += " " + name;
      lines.push_back(s);
    }
  }
  std::string out = "[label=" + label(lines) + ", shape=" + shape;
  if (!style.empty()) out += ", style=" + quote(style);
  return out + "]";
}

}  // namespace

std::string graph_dot(const Manifest& manifest) {
  const SystemView view = system_view(manifest);
  std::map<std::string, const PersonaView*> personas;
  for (const PersonaView& p : view.personas) personas.emplace(p.id, &p);
  std::map<std::string, std::vector<const ComponentEntry*>> children;
  std::map<std::string, const ComponentEntry*> by_id;
  for (const ComponentEntry& c : manifest.components) {
    by_id.emplace(c.id, &c);
    children[view.parent.at(c.id)].push_back(&c);
  }
  std::ostringstream out;
  out << "digraph " << quote(view.app_name.empty() ? "app" : view.app_name) << " {\n"
      << "  rankdir=LR;\n  compound=true;\n  fontname=\"Helvetica\";\n"
      << "  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n";
  // Depth-first over the Id tree with an explicit stack (a damaged manifest nests freely).
  // The app (a root) is the graph itself; every other component with children opens a cluster.
  struct Frame {
    const ComponentEntry* c;
    std::size_t depth;
    bool close;
  };
  std::vector<Frame> stack;
  const auto& roots = children[""];
  for (auto r = roots.rbegin(); r != roots.rend(); ++r) stack.push_back({*r, 0, false});
  while (!stack.empty()) {
    const Frame f = stack.back();
    stack.pop_back();
    const std::string indent(2 + 2 * f.depth, ' ');
    if (f.close) {
      out << indent << "}\n";
      continue;
    }
    const ComponentEntry& c = *f.c;
    const std::string parent = view.parent.at(c.id);
    const auto kids = children.find(c.id);
    const bool has_kids = kids != children.end() && !kids->second.empty();
    std::size_t inner = f.depth;
    if (parent.empty()) {
      if (component_type_of(c.type) != ComponentType::kApp) out << indent << quote(c.id) << " " << attributes(c, c.id, view, personas) << ";\n";
    } else if (has_kids) {
      out << indent << "subgraph " << quote("cluster_" + c.id) << " {\n"
          << indent << "  label=" << quote(short_name(c.id, parent)) << ";\n"
          << indent << "  style=\"rounded,dashed\";\n";
      out << indent << "  " << quote(c.id) << " " << attributes(c, short_name(c.id, parent), view, personas) << ";\n";
      stack.push_back({&c, f.depth, true});
      inner = f.depth + 1;
    } else {
      out << indent << quote(c.id) << " " << attributes(c, short_name(c.id, parent), view, personas) << ";\n";
    }
    if (has_kids) {
      for (auto k = kids->second.rbegin(); k != kids->second.rend(); ++k) stack.push_back({*k, inner, false});
    }
  }
  for (const ComponentEntry& c : manifest.components) {
    for (const std::string& u : c.uses) {
      if (by_id.count(u)) out << "  " << quote(c.id) << " -> " << quote(u) << " [label=\"uses\"];\n";
    }
  }
  out << "}\n";
  return out.str();
}

}  // namespace snap
