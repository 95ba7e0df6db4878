#include "snap/log_inspect.h"

#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "snap/log.h"
#include "snap/log_reader.h"
#include "snap/text.h"

namespace snap {

namespace {

constexpr std::size_t kShownBytes = 64;

// Bytes shown as a quoted string rather than hex: printable ASCII plus newline, tab and
// carriage return.
bool ascii_text(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c >= 0x7f) return false;
  }
  return true;
}

std::string hex(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Text form of bytes: "quoted" when printable, else hex:...; long values are cut.
std::string show_bytes(std::string_view s) {
  const std::string_view head = s.substr(0, kShownBytes);
  std::string out;
  if (ascii_text(head)) {
    out = "\"";
    for (char c : head) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        default: out += c;
      }
    }
    out += "\"";
  } else {
    out = "hex:" + hex(head);
  }
  if (s.size() > kShownBytes) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string show_result(const EventRecord& e) {
  switch (e.result_kind) {
    case ResultKind::kNone: return "none";
    case ResultKind::kInteger: return std::to_string(e.integer);
    case ResultKind::kBytes: return show_bytes(e.bytes);
    case ResultKind::kSecretHandle: return "secret:" + printable(e.bytes);
    case ResultKind::kFailure: return "failure " + show_bytes(e.bytes);
  }
  return "?";
}

bool selected(const EventRecord& e, const InspectOptions& o) {
  if (e.index < o.from || e.index >= o.to) return false;
  if (o.kind && e.kind != *o.kind) return false;
  if (o.key_contains && e.key.find(*o.key_contains) == std::string_view::npos) return false;
  return true;
}

std::map<std::string, std::uint64_t> count_kinds(const std::filesystem::path& log) {
  std::map<std::string, std::uint64_t> counts;
  auto reader = LogReader::open(log);
  while (const EventRecord* e = reader->next()) ++counts[std::string(e->kind)];
  return counts;
}

// The manifest in tree order: each component's parent is the component whose id is the
// longest proper dotted prefix of its own (`a.b` for `a.b.c`, else `a`), so a child shows
// under its parent even when declared after a sibling of that parent, and under its
// nearest declared ancestor when an intermediate level is not a component. Siblings keep
// their declaration order. Returns (index into components, depth) pairs.
std::vector<std::pair<std::size_t, std::size_t>> tree_order(const std::vector<ComponentEntry>& components) {
  std::unordered_map<std::string_view, std::size_t> by_id;
  for (std::size_t i = 0; i < components.size(); ++i) by_id.emplace(components[i].id, i);
  std::vector<std::vector<std::size_t>> children(components.size());
  std::vector<std::size_t> roots;
  for (std::size_t i = 0; i < components.size(); ++i) {
    const std::string_view id = components[i].id;
    bool has_parent = false;
    for (std::size_t dot = id.rfind('.'); dot != std::string_view::npos && dot > 0; dot = id.rfind('.', dot - 1)) {
      if (auto it = by_id.find(id.substr(0, dot)); it != by_id.end()) {
        children[it->second].push_back(i);
        has_parent = true;
        break;
      }
    }
    if (!has_parent) roots.push_back(i);
  }
  // A parent's id is strictly shorter than its child's, so this is a forest. Walked with
  // an explicit stack: a damaged manifest may nest as deep as it likes.
  std::vector<std::pair<std::size_t, std::size_t>> order;
  std::vector<std::pair<std::size_t, std::size_t>> stack;
  for (auto r = roots.rbegin(); r != roots.rend(); ++r) stack.emplace_back(*r, 0);
  while (!stack.empty()) {
    const auto [i, depth] = stack.back();
    stack.pop_back();
    order.emplace_back(i, depth);
    for (auto c = children[i].rbegin(); c != children[i].rend(); ++c) stack.emplace_back(*c, depth + 1);
  }
  return order;
}

// A log's text as a JSON string: JSON must be UTF-8, so text that is not appears in its
// printable() form (invalid bytes as \xNN). Controls are escaped by the serializer.
boost::json::string json_text(std::string_view s) {
  if (is_valid_utf8(s)) return boost::json::string(s);
  return boost::json::string(printable(s));
}

boost::json::value bytes_json(std::string_view s) {
  if (ascii_text(s)) return boost::json::string(s);
  return boost::json::object{{"hex", hex(s)}};
}

// Both forms read the log twice: counts come before the list, and a second pass costs
// less than holding millions of events. The first pass also proves every chunk readable,
// so a damaged log prints nothing but its error.
void manifest_tree(const std::vector<ComponentEntry>& components, std::size_t indent, std::ostream& out) {
  for (const auto& [index, depth] : tree_order(components)) {
    const ComponentEntry& c = components[index];
    out << std::string(indent + 2 * depth, ' ') << printable(c.id) << "  " << printable(c.type);
    if (!c.persona.empty()) out << "  [" << printable(c.persona) << "]";
    if (!c.config.empty() && c.config != "{}") out << "  " << printable(c.config);
    if (!c.uses.empty()) {
      out << "  uses ";
      for (std::size_t i = 0; i < c.uses.size(); ++i) out << (i ? ", " : "") << printable(c.uses[i]);
    }
    out << "\n";
  }
}

std::string join_printable(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + printable(v[i]);
  return out.empty() ? "(none)" : out;
}

}  // namespace

void inspect_text(const std::filesystem::path& log, const InspectOptions& options, std::ostream& out) {
  if (options.manifest_only) {
    auto reader = LogReader::open(log);
    manifest_tree(reader->manifest().components, 0, out);
    return;
  }
  const auto counts = count_kinds(log);
  auto reader = LogReader::open(log);
  const LogHeader& h = reader->header();
  char flags[16];
  std::snprintf(flags, sizeof flags, "0x%x", h.compatible_flags);
  out << "snapshot log " << printable(log.filename().string()) << "\n"
      << "  app:            " << printable(h.app_name) << "\n"
      << "  format version: " << h.format_version << " (compatible flags " << flags << ")\n"
      << "  binary:         " << printable(h.binary_fingerprint) << "\n"
      << "  writer:         " << printable(h.writer_version) << "\n"
      << "  events:         " << reader->trailer().event_count << "\n";

  out << "\nevents by kind:\n";
  std::vector<std::pair<std::string, std::uint64_t>> shown_counts;
  std::size_t width = 0;
  for (const auto& [kind, n] : counts) {
    shown_counts.emplace_back(printable(kind), n);
    width = std::max(width, shown_counts.back().first.size());
  }
  for (const auto& [kind, n] : shown_counts) out << "  " << kind << std::string(width - kind.size() + 2, ' ') << n << "\n";
  if (counts.empty()) out << "  (none)\n";

  const auto& components = reader->manifest().components;
  out << "\ncomponents (" << components.size() << "):\n";
  manifest_tree(components, 2, out);
  if (!options.personas.empty()) {
    out << "\npersonas:\n";
    for (const InspectPersona& p : options.personas) {
      out << "  " << printable(p.id) << "\n"
          << "    secrets:   " << join_printable(p.secrets) << "\n"
          << "    reaches:   " << join_printable(p.reachable) << "\n";
    }
  }

  if (!options.list_events) return;
  out << "\nevents:\n";
  std::uint64_t shown = 0;
  while (const EventRecord* e = reader->next()) {
    if (!selected(*e, options)) continue;
    ++shown;
    out << "  #" << e->index << "  " << printable(e->kind);
    if (!e->key.empty()) out << "  " << show_bytes(e->key);
    if (!e->request.empty()) out << "  request " << show_bytes(e->request);
    out << "  -> " << show_result(*e);
    if (!e->call_site.empty()) out << "  @ " << printable(e->call_site.file) << ":" << e->call_site.line;
    out << "\n";
  }
  out << "  (" << shown << " shown)\n";
}

void inspect_json(const std::filesystem::path& log, const InspectOptions& options, std::ostream& out) {
  const auto counts = count_kinds(log);
  auto reader = LogReader::open(log);
  const LogHeader& h = reader->header();
  boost::json::object doc;
  doc["header"] = boost::json::object{{"app", json_text(h.app_name)},
                                      {"format_version", h.format_version},
                                      {"compatible_flags", h.compatible_flags},
                                      {"binary_fingerprint", json_text(h.binary_fingerprint)},
                                      {"writer_version", json_text(h.writer_version)},
                                      {"event_count", reader->trailer().event_count}};
  boost::json::object by_kind;
  for (const auto& [kind, n] : counts) by_kind[json_text(kind)] = n;
  doc["events_by_kind"] = std::move(by_kind);

  boost::json::array manifest;
  for (const ComponentEntry& c : reader->manifest().components) {
    boost::json::array uses;
    for (const auto& u : c.uses) uses.emplace_back(json_text(u));
    boost::system::error_code ec;
    boost::json::value config = boost::json::parse(c.config, ec);
    if (ec) config = json_text(c.config);
    manifest.emplace_back(boost::json::object{{"id", json_text(c.id)},
                                              {"type", json_text(c.type)},
                                              {"persona", json_text(c.persona)},
                                              {"config", std::move(config)},
                                              {"uses", std::move(uses)}});
  }
  if (options.manifest_only) {
    out << boost::json::serialize(manifest) << "\n";
    return;
  }
  doc["manifest"] = std::move(manifest);
  if (!options.personas.empty()) {
    boost::json::array personas;
    for (const InspectPersona& p : options.personas) {
      boost::json::array secrets, reaches;
      for (const auto& n : p.secrets) secrets.emplace_back(json_text(n));
      for (const auto& n : p.reachable) reaches.emplace_back(json_text(n));
      personas.emplace_back(boost::json::object{{"id", json_text(p.id)}, {"secrets", std::move(secrets)}, {"reachable", std::move(reaches)}});
    }
    doc["personas"] = std::move(personas);
  }

  if (options.list_events) {
    boost::json::array events;
    while (const EventRecord* e = reader->next()) {
      if (!selected(*e, options)) continue;
      boost::json::object ev{{"index", e->index}, {"kind", json_text(e->kind)}, {"key", bytes_json(e->key)}};
      if (!e->request.empty()) ev["request"] = bytes_json(e->request);
      boost::json::object result{{"type", to_string(e->result_kind)}};
      switch (e->result_kind) {
        case ResultKind::kNone: break;
        case ResultKind::kInteger: result["value"] = e->integer; break;
        case ResultKind::kBytes: result["value"] = bytes_json(e->bytes); break;
        case ResultKind::kSecretHandle: result["handle"] = json_text(e->bytes); break;
        case ResultKind::kFailure: result["message"] = bytes_json(e->bytes); break;
      }
      ev["result"] = std::move(result);
      if (!e->call_site.empty()) {
        ev["call_site"] = boost::json::object{{"file", json_text(e->call_site.file)},
                                              {"line", e->call_site.line},
                                              {"column", e->call_site.column},
                                              {"function", json_text(e->call_site.function)}};
      }
      events.emplace_back(std::move(ev));
    }
    doc["events"] = std::move(events);
  }
  out << boost::json::serialize(doc) << "\n";
}

}  // namespace snap
