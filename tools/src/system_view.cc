#include "snap/system_view.h"

#include <string_view>

#include "snap/component_type.h"
#include "snap/password.h"
#include "snap/reach.h"

namespace snap {

SystemView system_view(const Manifest& manifest) {
  SystemView view;
  const auto& components = manifest.components;
  std::map<std::string, const ComponentEntry*> by_id;
  for (const ComponentEntry& c : components) by_id.emplace(c.id, &c);
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
    view.parent[c.id] = parent;
    if (holds_a_secret(component_type_of(c.type))) view.secrets[c.id] = {secret_name_for(c.id)};
  }
  for (PersonaReach& reach : persona_reach(manifest, view.secrets)) {
    const std::string kind = by_id.at(reach.persona)->persona;
    view.personas.push_back({std::move(reach.persona), kind, std::move(reach.secrets), std::move(reach.components)});
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
  return input;
}

}  // namespace snap
