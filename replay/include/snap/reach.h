// Reach: what a persona may use. The one rule behind what its PersonaContext admits (in
// dev as in a container), what `snapshot inspect` lists for it, and which secrets and
// networks its service gets in docker-compose.yml and docker-stack.yml:
//
//   persona_reach(manifest)  ->  App::reachable_from / App::secrets_for (the context)
//                                     ->  snap::system_view (inspect, diff, graph)
//                                     ->  plan_deployment (compose, stack, bin/ scripts)
//
// A persona reaches its own subtree and what it uses, transitively: the children and the
// `uses` of everything it reaches. Another persona is reached as a whole (its endpoints
// can be called) but not entered: what that persona holds and uses stays its own, as in
// its own container. Any other component is reached alike wherever it is declared: a
// store declared inside an ApiServer and used by a Worker is the Worker's too (its data
// lives in the store's database, not in the server's process), so the Worker receives
// that database's password and joins its network.
//
// A persona receives the secrets of the components it reaches, other personas' excepted.
//
// Computed over the manifest alone (ids, persona kinds, uses and the secret names each
// component holds), so the tools answer from a log alone. A component's parent is the component whose id is its
// longest proper dotted prefix (Id::str() escapes dots inside names).
//
// Thread safety: a pure function over plain values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "snap/log.h"

namespace snap {

struct PersonaReach {
  std::string persona;                  // its id
  std::vector<std::string> components;  // ids it reaches, itself excluded (other personas included), sorted
  std::vector<std::string> personas;    // the other personas among `components`: called, not entered; sorted
  std::vector<std::string> secrets;     // secret names it receives, sorted
};

// The reach of every persona of `manifest` (entries with a persona kind), in manifest order.
std::vector<PersonaReach> persona_reach(const Manifest& manifest);

}  // namespace snap
