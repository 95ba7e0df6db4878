// snap::run: a program's main. The lifecycle's command line (build, run, dev, verify,
// health, personas) with the deployment emitters installed, so `APP build` writes the
// Dockerfile and compose files beside the log.
//
//   int main(int argc, char** argv) { return snap::run(argc, argv, "my-app", define_app); }
//
// Thread safety: call once, from main.
#pragma once

#include <string_view>

#include "snap/lifecycle.h"

namespace snap {

int run(int argc, char** argv, std::string_view app_name, const DefineApp& define);

}  // namespace snap
