// Job: a persona that runs once and exits with a status: seeding data, a migration, a
// client that exercises a server. Deployed, it is a run-once service (`restart: "no"`)
// started after what it uses is healthy; in `dev` it runs once beside the daemons.
//
//   app.add<snap::Job>("seed", [&customers](snap::PersonaContext& ctx) {
//     customers.open(ctx).set("1", {{"name", "John Doe"}});
//     return 0;
//   }).uses(customers);
//
// Thread safety: the body runs on one thread.
#pragma once

#include "snap/persona.h"

namespace snap {

class Job final : public Persona {
 public:
  Job(const Init& init, Body body) : Persona(init, PersonaKind::kJob, std::move(body), "Job") {}
};

}  // namespace snap
