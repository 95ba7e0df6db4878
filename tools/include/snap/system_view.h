// A system as the tools see it, computed from a log's manifest alone: which components
// are personas, which secrets each persona receives (names only), what each persona
// reaches, and the deployment planner's input. `snapshot diff`, `snapshot graph` and
// `snapshot inspect` all answer from this, so a log copied off a machine is enough.
//
// What each persona reaches and receives is the runtime's and deployment's own rule
// (snap::persona_reach, snap/reach.h), applied to the manifest. What a log does not record
// is derived from it: Password and Secret components hold one secret each, named by
// snap::secret_name_for (snap/password.h), the function the components name them with.
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

// The planner's input for this manifest (DeployInput::previous left null).
DeployInput deploy_input_from(const Manifest& manifest);

}  // namespace snap
