#include "snap/system_view.h"

#include <algorithm>
#include <deque>
#include <set>
#include <string_view>

namespace snap {

namespace {

// Password::secret_name(): the id below the app, '/' made '_'.
std::string secret_name_of(const std::string& id) {
  const std::size_t dot = id.find('.');
  std::string name = dot == std::string::npos ? id : id.substr(dot + 1);
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

}  // namespace

SystemView system_view(const Manifest& manifest) {
  SystemView view;
  const auto& components = manifest.components;
  std::map<std::string, const ComponentEntry*> by_id;
  for (const ComponentEntry& c : components) by_id.emplace(c.id, &c);
  std::map<std::string, std::vector<const ComponentEntry*>> children;
  for (const ComponentEntry& c : components) {
    std::string parent;
    const std::string_view id = c.id;
    for (std::size_t dot = id.rfind('.'); dot != std::string_view::npos && dot > 0; dot = id.rfind('.', dot - 1)) {
      if (by_id.count(std::string(id.substr(0, dot)))) {
        parent = std::string(id.substr(0, dot));
        break;
      }
    }
    if (parent.empty() && view.app_name.empty()) view.app_name = c.id;
    if (!parent.empty()) children[parent].push_back(&c);
    view.parent[c.id] = parent;
    if (c.type == "Password" || c.type == "Secret") view.secrets[c.id] = {secret_name_of(c.id)};
  }
  for (const ComponentEntry& p : components) {
    if (p.persona.empty() || p.persona == "none") continue;
    PersonaView pv{p.id, p.persona, {}, {}};
    std::set<std::string> seen, secrets;
    std::deque<const ComponentEntry*> todo{&p};
    while (!todo.empty()) {
      const ComponentEntry* c = todo.front();
      todo.pop_front();
      if (!seen.insert(c->id).second) continue;
      if (auto it = view.secrets.find(c->id); it != view.secrets.end()) secrets.insert(it->second.begin(), it->second.end());
      // Another persona is reached, not entered: its secrets and stores stay its own.
      if (c != &p && !c->persona.empty() && c->persona != "none") continue;
      if (auto it = children.find(c->id); it != children.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
      for (const std::string& u : c->uses) {
        if (auto it = by_id.find(u); it != by_id.end()) todo.push_back(it->second);
      }
    }
    seen.erase(p.id);
    pv.reachable.assign(seen.begin(), seen.end());
    pv.secrets.assign(secrets.begin(), secrets.end());
    view.personas.push_back(std::move(pv));
  }
  return view;
}

DeployInput deploy_input_from(const Manifest& manifest) {
  const SystemView view = system_view(manifest);
  DeployInput input;
  input.app_name = view.app_name;
  for (const ComponentEntry& e : manifest.components) {
    DeployComponent c{e.id, e.type, e.persona, e.config, e.uses, {}};
    if (auto it = view.secrets.find(e.id); it != view.secrets.end()) c.secrets = it->second;
    input.components.push_back(std::move(c));
  }
  for (const PersonaView& p : view.personas) input.persona_secrets.emplace_back(p.id, p.secrets);
  return input;
}

}  // namespace snap
