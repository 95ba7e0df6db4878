// The episode tests' program as a binary, for the command line (`replay`, `episodes`,
// `run --record-requests`). Built twice: as recorded, and with EPISODE_FIXED (a charge
// over the balance is a clear error instead of a crash).
#include "episode_app.h"
#include "snap/main.h"

#ifndef EPISODE_FIXED
#define EPISODE_FIXED false
#endif

int main(int argc, char** argv) {
  static snap::episodetest::Variant variant;
  variant.fixed = EPISODE_FIXED;
  static snap::episodetest::Endpoints endpoints;
  return snap::run(argc, argv, "episodes",
                   [](snap::App& app) { snap::episodetest::define_episode_app(app, variant, endpoints); });
}
