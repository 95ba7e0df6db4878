#include "snap/log_diff.h"

#include <boost/json.hpp>
#include <map>
#include <set>
#include <tuple>

#include "snap/deploy.h"
#include "snap/log_reader.h"
#include "snap/system_view.h"
#include "snap/text.h"

namespace snap {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kShownBytes = 64;

std::string show_bytes(std::string_view s) {
  std::string out = "\"" + printable(s.substr(0, kShownBytes)) + "\"";
  if (s.size() > kShownBytes) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string show_event(const EventRecord& e) {
  std::string out;
  if (!e.request.empty()) out += "request " + show_bytes(e.request) + " ";
  out += "-> ";
  switch (e.result_kind) {
    case ResultKind::kNone: out += "none"; break;
    case ResultKind::kInteger: out += std::to_string(e.integer); break;
    case ResultKind::kBytes: out += show_bytes(e.bytes); break;
    case ResultKind::kSecretHandle: out += "secret:" + printable(e.bytes); break;
    case ResultKind::kFailure: out += "failure " + show_bytes(e.bytes); break;
  }
  return out;
}

struct Loaded {
  LogHeader header;
  Manifest manifest;
  // (kind, key, occurrence) -> (index, shown)
  std::map<std::tuple<std::string, std::string, std::uint64_t>, std::pair<std::uint64_t, std::string>> inputs;
};

fs::path log_path(const fs::path& p) { return log_file_at(p); }

// Reads the whole log first: a damaged one throws before anything is compared.
Loaded load(const fs::path& path) {
  Loaded l;
  auto reader = LogReader::open(log_path(path));
  l.header = reader->header();
  l.manifest = reader->manifest();
  std::map<std::pair<std::string, std::string>, std::uint64_t> seen;
  while (const EventRecord* e = reader->next()) {
    std::pair<std::string, std::string> k{std::string(e->kind), std::string(e->key)};
    const std::uint64_t n = seen[k]++;
    l.inputs.emplace(std::tuple{k.first, k.second, n}, std::pair{e->index, show_event(*e)});
  }
  return l;
}

template <class T>
std::pair<std::vector<T>, std::vector<T>> set_diff(const std::set<T>& before, const std::set<T>& after) {
  std::pair<std::vector<T>, std::vector<T>> out;  // (added, removed)
  for (const T& a : after) {
    if (!before.count(a)) out.first.push_back(a);
  }
  for (const T& b : before) {
    if (!after.count(b)) out.second.push_back(b);
  }
  return out;
}

struct PlanFacts {
  std::string error;
  std::set<std::string> services;
  std::map<std::string, std::string> volumes;  // volume -> database id
  std::set<std::string> secrets;               // "service: secret"
  std::set<std::string> reaches;               // "a -> b"
};

PlanFacts plan_facts(const Manifest& manifest) {
  PlanFacts f;
  DeployPlan plan;
  try {
    plan = plan_deployment(deploy_input_from(manifest), DeployOptions{});
  } catch (const DeployError& e) {
    f.error = e.what();
    return f;
  }
  for (const auto& [service, targets] : plan.reaches) {
    f.services.insert(service);
    for (const std::string& t : targets) f.reaches.insert(service + " -> " + t);
  }
  for (const DeploySecretFile& s : plan.secret_files) f.secrets.insert(s.service + ": " + s.secret);
  for (const DeployFile& file : plan.files) {
    if (file.path != "state/deploy.json") continue;
    boost::system::error_code ec;
    const boost::json::value state = boost::json::parse(file.content, ec);
    if (ec || !state.is_object()) continue;
    if (const auto* v = state.as_object().if_contains("volumes"); v && v->is_object()) {
      for (const auto& [volume, id] : v->as_object()) {
        f.volumes[std::string(volume)] = id.is_string() ? std::string(id.as_string()) : "";
      }
    }
  }
  return f;
}

std::string table_of(const ComponentEntry& c) {
  boost::system::error_code ec;
  const boost::json::value config = boost::json::parse(c.config, ec);
  if (!ec && config.is_object()) {
    if (const auto* t = config.as_object().if_contains("table"); t && t->is_string()) return std::string(t->as_string());
  }
  return "";
}

bool is_store(const ComponentEntry& c) { return !table_of(c).empty(); }

PlanDiff diff_plans(const Manifest& before, const Manifest& after, const std::vector<ComponentDiff>& removed) {
  PlanDiff d;
  const PlanFacts a = plan_facts(before), b = plan_facts(after);
  d.old_error = a.error;
  d.new_error = b.error;
  if (!a.error.empty() || !b.error.empty()) return d;
  std::tie(d.services_added, d.services_removed) = set_diff(a.services, b.services);
  for (const auto& [volume, id] : b.volumes) {
    if (!a.volumes.count(volume)) d.volumes_added.push_back(volume + " (database " + id + ")");
  }
  for (const auto& [volume, id] : a.volumes) {
    if (!b.volumes.count(volume)) d.volumes_orphaned.push_back(volume + " (database " + id + ")");
  }
  for (const ComponentDiff& c : removed) {
    if (is_store(*c.before)) d.stores_removed.push_back(c.id + " (table " + table_of(*c.before) + ")");
  }
  std::tie(d.secrets_added, d.secrets_removed) = set_diff(a.secrets, b.secrets);
  std::tie(d.reach_gained, d.reach_lost) = set_diff(a.reaches, b.reaches);
  return d;
}

std::vector<PersonaDiff> diff_personas(const Manifest& before, const Manifest& after) {
  std::map<std::string, PersonaView> a, b;
  for (PersonaView& p : system_view(before).personas) a.emplace(p.id, std::move(p));
  for (PersonaView& p : system_view(after).personas) b.emplace(p.id, std::move(p));
  std::set<std::string> ids;
  for (const auto& [id, p] : a) ids.insert(id);
  for (const auto& [id, p] : b) ids.insert(id);
  std::vector<PersonaDiff> out;
  for (const std::string& id : ids) {
    const PersonaView empty;
    const auto ia = a.find(id), ib = b.find(id);
    const PersonaView& pa = ia == a.end() ? empty : ia->second;
    const PersonaView& pb = ib == b.end() ? empty : ib->second;
    PersonaDiff d{id, pa.kind, pb.kind, {}, {}, {}, {}};
    std::tie(d.secrets_added, d.secrets_removed) = set_diff(std::set<std::string>(pa.secrets.begin(), pa.secrets.end()),
                                                            std::set<std::string>(pb.secrets.begin(), pb.secrets.end()));
    std::tie(d.reaches_added, d.reaches_removed) =
        set_diff(std::set<std::string>(pa.reachable.begin(), pa.reachable.end()),
                 std::set<std::string>(pb.reachable.begin(), pb.reachable.end()));
    if (d.kind_before != d.kind_after || !d.secrets_added.empty() || !d.secrets_removed.empty() ||
        !d.reaches_added.empty() || !d.reaches_removed.empty()) {
      out.push_back(std::move(d));
    }
  }
  return out;
}

std::string parent_of(const SystemView& view, const std::string& id) {
  auto it = view.parent.find(id);
  return it == view.parent.end() ? "" : it->second;
}

// ---- output ----

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + printable(v[i]);
  return out.empty() ? "(none)" : out;
}

std::string show_entry(const ComponentEntry& c) {
  std::string out = printable(c.type);
  if (!c.persona.empty()) out += " [" + printable(c.persona) + "]";
  if (!c.config.empty() && c.config != "{}") out += " " + printable(c.config);
  if (!c.uses.empty()) out += " uses " + join(c.uses);
  return out;
}

boost::json::value json_config(const std::string& config) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(config, ec);
  if (ec) return boost::json::string(printable(config));
  return v;
}

boost::json::array json_list(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const std::string& s : v) a.emplace_back(boost::json::string(printable(s)));
  return a;
}

boost::json::value json_entry(const std::optional<ComponentEntry>& c) {
  if (!c) return nullptr;
  return boost::json::object{{"type", printable(c->type)},
                             {"persona", printable(c->persona)},
                             {"config", json_config(c->config)},
                             {"uses", json_list(c->uses)}};
}

// A config change, one line per top-level key that differs when both sides are objects
// (an ApiServer's config is long; the port is what changed), else the whole before -> after.
void config_lines(const std::string& before, const std::string& after, std::ostream& out) {
  boost::system::error_code ea, eb;
  const boost::json::value a = boost::json::parse(before, ea), b = boost::json::parse(after, eb);
  if (ea || eb || !a.is_object() || !b.is_object()) {
    out << "      config:  " << printable(before) << " -> " << printable(after) << "\n";
    return;
  }
  std::set<std::string> keys;
  for (const auto& [k, v] : a.as_object()) keys.insert(std::string(k));
  for (const auto& [k, v] : b.as_object()) keys.insert(std::string(k));
  for (const std::string& k : keys) {
    const auto* va = a.as_object().if_contains(k);
    const auto* vb = b.as_object().if_contains(k);
    if (va && vb && *va == *vb) continue;
    out << "      config." << printable(k) << ": " << (va ? printable(boost::json::serialize(*va)) : "(none)") << " -> "
        << (vb ? printable(boost::json::serialize(*vb)) : "(none)") << "\n";
  }
}

void list_section(std::ostream& out, const char* title, const std::vector<std::string>& items) {
  for (const std::string& item : items) out << "  " << title << " " << printable(item) << "\n";
}

}  // namespace

bool PlanDiff::empty() const {
  return old_error.empty() && new_error.empty() && services_added.empty() && services_removed.empty() &&
         volumes_added.empty() && volumes_orphaned.empty() && stores_removed.empty() && secrets_added.empty() &&
         secrets_removed.empty() && reach_gained.empty() && reach_lost.empty();
}

bool LogDiff::differs() const {
  for (const auto& [field, before, after] : header) {
    if (field != "binary" && field != "writer") return true;
  }
  return !added.empty() || !removed.empty() || !changed.empty() || !personas.empty() || !inputs.empty() ||
         !plan.empty() || !api.empty();
}

LogDiff diff_logs(const fs::path& old_log, const fs::path& new_log) {
  const Loaded a = load(old_log), b = load(new_log);
  LogDiff d;
  d.old_path = old_log.string();
  d.new_path = new_log.string();
  auto header = [&](const char* field, const std::string& x, const std::string& y) {
    if (x != y) d.header.emplace_back(field, x, y);
  };
  header("app", a.header.app_name, b.header.app_name);
  header("format_version", std::to_string(a.header.format_version), std::to_string(b.header.format_version));
  header("binary", a.header.binary_fingerprint, b.header.binary_fingerprint);
  header("writer", a.header.writer_version, b.header.writer_version);

  std::map<std::string, const ComponentEntry*> ma, mb;
  for (const ComponentEntry& c : a.manifest.components) ma.emplace(c.id, &c);
  for (const ComponentEntry& c : b.manifest.components) mb.emplace(c.id, &c);
  // Manifest order of the side that has the component: declaration order reads best.
  for (const ComponentEntry& c : b.manifest.components) {
    auto it = ma.find(c.id);
    if (it == ma.end()) {
      d.added.push_back({c.id, std::nullopt, c});
    } else if (!(*it->second == c)) {
      d.changed.push_back({c.id, *it->second, c});
    }
  }
  for (const ComponentEntry& c : a.manifest.components) {
    if (!mb.count(c.id)) d.removed.push_back({c.id, c, std::nullopt});
  }
  const SystemView va = system_view(a.manifest), vb = system_view(b.manifest);
  std::set<std::string> paired;
  for (const ComponentDiff& r : d.removed) {
    for (const ComponentDiff& n : d.added) {
      if (paired.count(n.id) || n.after->type != r.before->type) continue;
      if (parent_of(va, r.id) != parent_of(vb, n.id)) continue;
      d.renamed.emplace_back(r.id, n.id);
      paired.insert(n.id);
      break;
    }
  }
  d.personas = diff_personas(a.manifest, b.manifest);

  std::set<std::tuple<std::string, std::string, std::uint64_t>> keys;
  for (const auto& [k, v] : a.inputs) keys.insert(k);
  for (const auto& [k, v] : b.inputs) keys.insert(k);
  for (const auto& k : keys) {
    const auto ia = a.inputs.find(k), ib = b.inputs.find(k);
    InputDiff in{std::get<0>(k), std::get<1>(k), std::get<2>(k), {}, {}, {}, {}};
    if (ia != a.inputs.end()) {
      in.old_index = ia->second.first;
      in.before = ia->second.second;
    }
    if (ib != b.inputs.end()) {
      in.new_index = ib->second.first;
      in.after = ib->second.second;
    }
    if (in.old_index && in.new_index && in.before == in.after) continue;
    d.inputs.push_back(std::move(in));
  }
  std::sort(d.inputs.begin(), d.inputs.end(), [](const InputDiff& x, const InputDiff& y) {
    return std::pair{x.old_index.value_or(UINT64_MAX), x.new_index.value_or(UINT64_MAX)} <
           std::pair{y.old_index.value_or(UINT64_MAX), y.new_index.value_or(UINT64_MAX)};
  });
  d.plan = diff_plans(a.manifest, b.manifest, d.removed);
  d.api = diff_apis(a.manifest, b.manifest);
  return d;
}

void diff_text(const LogDiff& d, std::ostream& out) {
  out << "--- " << printable(d.old_path) << "\n+++ " << printable(d.new_path) << "\n";
  if (!d.differs()) out << "no differences\n";
  if (!d.header.empty()) {
    out << "\nheader:\n";
    for (const auto& [field, before, after] : d.header) {
      out << "  " << field << ": " << printable(before) << " -> " << printable(after) << "\n";
    }
  }
  if (!d.added.empty() || !d.removed.empty() || !d.changed.empty()) {
    out << "\ncomponents:\n";
    for (const ComponentDiff& c : d.added) out << "  + " << printable(c.id) << "  " << show_entry(*c.after) << "\n";
    for (const ComponentDiff& c : d.removed) out << "  - " << printable(c.id) << "  " << show_entry(*c.before) << "\n";
    for (const auto& [from, to] : d.renamed) out << "  renamed? " << printable(from) << " -> " << printable(to) << "\n";
    for (const ComponentDiff& c : d.changed) {
      out << "  ~ " << printable(c.id) << "\n";
      const ComponentEntry &x = *c.before, &y = *c.after;
      if (x.type != y.type) out << "      type:    " << printable(x.type) << " -> " << printable(y.type) << "\n";
      if (x.persona != y.persona) {
        out << "      persona: " << (x.persona.empty() ? "(none)" : printable(x.persona)) << " -> "
            << (y.persona.empty() ? "(none)" : printable(y.persona)) << "\n";
      }
      if (x.config != y.config) config_lines(x.config, y.config, out);
      if (x.uses != y.uses) out << "      uses:    " << join(x.uses) << " -> " << join(y.uses) << "\n";
    }
  }
  if (!d.api.empty()) {
    out << "\n";
    api_text(d.api, out);
  }
  if (!d.personas.empty()) {
    out << "\npersonas:\n";
    for (const PersonaDiff& p : d.personas) {
      out << "  " << printable(p.id) << ": ";
      if (p.kind_before.empty()) {
        out << "new " << p.kind_after << "\n";
      } else if (p.kind_after.empty()) {
        out << "gone (was " << p.kind_before << ")\n";
      } else if (p.kind_before != p.kind_after) {
        out << p.kind_before << " -> " << p.kind_after << "\n";
      } else {
        out << p.kind_after << "\n";
      }
      if (!p.kind_before.empty() && !p.kind_after.empty()) {
        list_section(out, "  + secret", p.secrets_added);
        list_section(out, "  - secret", p.secrets_removed);
        list_section(out, "  + reaches", p.reaches_added);
        list_section(out, "  - reaches", p.reaches_removed);
      }
    }
  }
  if (!d.inputs.empty()) {
    out << "\nstartup inputs:\n";
    for (const InputDiff& in : d.inputs) {
      out << "  " << printable(in.kind) << " " << show_bytes(in.key);
      if (in.occurrence) out << " (read " << in.occurrence + 1 << ")";
      out << "\n";
      if (in.old_index) out << "    - #" << *in.old_index << " " << in.before << "\n";
      if (in.new_index) out << "    + #" << *in.new_index << " " << in.after << "\n";
    }
  }
  if (!d.plan.empty()) {
    const PlanDiff& p = d.plan;
    out << "\nplan:\n";
    if (!p.old_error.empty()) out << "  OLD cannot be deployed: " << printable(p.old_error) << "\n";
    if (!p.new_error.empty()) out << "  NEW cannot be deployed: " << printable(p.new_error) << "\n";
    list_section(out, "+ service", p.services_added);
    list_section(out, "- service", p.services_removed);
    list_section(out, "+ volume", p.volumes_added);
    for (const std::string& v : p.volumes_orphaned) {
      out << "  ! volume " << printable(v) << " orphaned: its data stays until bin/remove-orphans\n";
    }
    for (const std::string& s : p.stores_removed) {
      out << "  ! store " << printable(s) << " removed: its rows stay, nothing reads them\n";
    }
    list_section(out, "+ secret", p.secrets_added);
    list_section(out, "- secret", p.secrets_removed);
    list_section(out, "+ reach", p.reach_gained);
    list_section(out, "- reach", p.reach_lost);
  }
}

void diff_json(const LogDiff& d, std::ostream& out) {
  boost::json::object doc;
  doc["old"] = printable(d.old_path);
  doc["new"] = printable(d.new_path);
  doc["differs"] = d.differs();
  boost::json::array header;
  for (const auto& [field, before, after] : d.header) {
    header.emplace_back(boost::json::object{{"field", field}, {"before", printable(before)}, {"after", printable(after)}});
  }
  doc["header"] = std::move(header);
  auto components = [](const std::vector<ComponentDiff>& list) {
    boost::json::array a;
    for (const ComponentDiff& c : list) {
      a.emplace_back(boost::json::object{{"id", printable(c.id)}, {"before", json_entry(c.before)}, {"after", json_entry(c.after)}});
    }
    return a;
  };
  boost::json::array renamed;
  for (const auto& [from, to] : d.renamed) renamed.emplace_back(boost::json::object{{"from", printable(from)}, {"to", printable(to)}});
  doc["components"] = boost::json::object{{"added", components(d.added)},
                                          {"removed", components(d.removed)},
                                          {"changed", components(d.changed)},
                                          {"renamed", std::move(renamed)}};
  boost::json::array personas;
  for (const PersonaDiff& p : d.personas) {
    personas.emplace_back(boost::json::object{{"id", printable(p.id)},
                                              {"kind_before", p.kind_before.empty() ? boost::json::value(nullptr) : boost::json::value(p.kind_before)},
                                              {"kind_after", p.kind_after.empty() ? boost::json::value(nullptr) : boost::json::value(p.kind_after)},
                                              {"secrets_added", json_list(p.secrets_added)},
                                              {"secrets_removed", json_list(p.secrets_removed)},
                                              {"reaches_added", json_list(p.reaches_added)},
                                              {"reaches_removed", json_list(p.reaches_removed)}});
  }
  doc["personas"] = std::move(personas);
  boost::json::array inputs;
  for (const InputDiff& in : d.inputs) {
    boost::json::object o{{"kind", printable(in.kind)}, {"key", printable(in.key)}, {"occurrence", in.occurrence}};
    o["old_index"] = in.old_index ? boost::json::value(*in.old_index) : boost::json::value(nullptr);
    o["new_index"] = in.new_index ? boost::json::value(*in.new_index) : boost::json::value(nullptr);
    o["before"] = in.old_index ? boost::json::value(in.before) : boost::json::value(nullptr);
    o["after"] = in.new_index ? boost::json::value(in.after) : boost::json::value(nullptr);
    inputs.emplace_back(std::move(o));
  }
  doc["inputs"] = std::move(inputs);
  const PlanDiff& p = d.plan;
  doc["plan"] = boost::json::object{
      {"old_error", p.old_error.empty() ? boost::json::value(nullptr) : boost::json::value(printable(p.old_error))},
      {"new_error", p.new_error.empty() ? boost::json::value(nullptr) : boost::json::value(printable(p.new_error))},
      {"services_added", json_list(p.services_added)},
      {"services_removed", json_list(p.services_removed)},
      {"volumes_added", json_list(p.volumes_added)},
      {"volumes_orphaned", json_list(p.volumes_orphaned)},
      {"stores_removed", json_list(p.stores_removed)},
      {"secrets_added", json_list(p.secrets_added)},
      {"secrets_removed", json_list(p.secrets_removed)},
      {"reach_gained", json_list(p.reach_gained)},
      {"reach_lost", json_list(p.reach_lost)}};
  const auto changes = [](const std::vector<ApiChange>& list) {
    boost::json::array a;
    for (const ApiChange& c : list) {
      a.emplace_back(boost::json::object{{"server", printable(c.server)},
                                         {"endpoint", printable(c.endpoint)},
                                         {"field", printable(c.field)},
                                         {"message", printable(c.message)}});
    }
    return a;
  };
  doc["api"] = boost::json::object{{"breaking", changes(d.api.breaking)},
                                   {"compatible", changes(d.api.compatible)},
                                   {"not_compared", json_list(d.api.not_compared)}};
  out << boost::json::serialize(doc) << "\n";
}

}  // namespace snap
