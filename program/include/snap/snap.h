// Everything a program writes against, in one include: the app and its lifecycle, the
// membrane, every component (servers, stores, jobs, workers, commands, ports, passwords,
// secrets, databases) and snap::run.
//
//   #include "snap/snap.h"
//
//   void define_app(snap::App& app) {
//     const auto started = app.membrane().wall_now();  // no second include for the membrane
//     app.add<snap::Job>("report", [started](snap::PersonaContext&) { return started.time_since_epoch().count() > 0 ? 0 : 1; });
//   }
//   int main(int argc, char** argv) { return snap::run(argc, argv, "my-app", define_app); }
//
// Each header it includes can still be included alone; this one only saves a program from
// knowing which component lives in which (an App's membrane() needs snap/membrane.h
// beside snap/app.h, for one).
#pragma once

#include "snap/api_error.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/cli_command.h"
#include "snap/env.h"
#include "snap/job.h"
#include "snap/json_struct.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/main.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/postgres.h"
#include "snap/store.h"
#include "snap/worker.h"
