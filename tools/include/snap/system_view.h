// A system as the tools see it, computed from a log's manifest alone: which components
// are personas, which secrets each persona receives (names only), what each persona
// reaches, and the deployment planner's input. `snapshot diff`, `snapshot graph` and
// `snapshot inspect` all answer from this, so a log copied off a machine is enough.
//
// What each persona reaches and receives is the runtime's and deployment's own rule
// (snap::persona_reach, snap/reach.h), applied to the manifest, which records the secret
// names each component holds. A log from before it recorded them
// (Manifest::secret_names_recorded false) gets them from snap::secret_name_for
// (snap/password.h), the function the components name them with (with_secret_names).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "snap/deploy.h"
#include "snap/log.h"

namespace snap {

struct PersonaView {
  std::string id;
  std::string kind;                    // "daemon", "job", "command"
  std::vector<std::string> secrets;    // sorted names
  std::vector<std::string> reachable;  // ids, sorted, itself excluded
};

struct SystemView {
  std::string app_name;  // the root component's id ("" for an empty manifest)
  std::vector<PersonaView> personas;  // manifest order
  // Per component id: its parent's id ("" for a root).
  std::map<std::string, std::string> parent;
  // Per component id: the secrets it holds.
  std::map<std::string, std::vector<std::string>> secrets;
};

SystemView system_view(const Manifest& manifest);

// `manifest` with every component's secret names: as recorded, or for a log from before
// they were recorded, as the components named them.
Manifest with_secret_names(Manifest manifest);

// The planner's input for this manifest (DeployInput::previous left null).
DeployInput deploy_input_from(const Manifest& manifest);

}  // namespace snap
