#include "snap/system_view.h"

#include <string_view>

#include "snap/component_type.h"
#include "snap/password.h"
#include "snap/reach.h"

namespace snap {

Manifest with_secret_names(Manifest manifest) {
  if (manifest.secret_names_recorded) return manifest;
  // Before the manifest recorded them, Password and Secret held one secret each, named
  // by the rule they still name it with.
  for (ComponentEntry& c : manifest.components) {
    if (holds_a_secret(component_type_of(c.type))) c.secrets = {secret_name_for(c.id)};
  }
  manifest.secret_names_recorded = true;
  return manifest;
}

SystemView system_view(const Manifest& recorded) {
  const Manifest manifest = with_secret_names(recorded);
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
    if (!c.secrets.empty()) view.secrets[c.id] = c.secrets;
  }
  for (PersonaReach& reach : persona_reach(manifest)) {
    const std::string kind = by_id.at(reach.persona)->persona;
    view.personas.push_back({std::move(reach.persona), kind, std::move(reach.secrets), std::move(reach.components)});
  }
  return view;
}

DeployInput deploy_input_from(const Manifest& manifest) { return deploy_input(with_secret_names(manifest)); }

}  // namespace snap
