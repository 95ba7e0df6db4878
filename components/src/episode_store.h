// A store as a recorded request's handler sees it (snap/episode.h): every operation goes
// through the episode's membrane, recorded with its result (errors included) or replayed
// from it. Made by KeyValueStore::open while an episode is current.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "snap/store.h"

namespace snap {

class Episode;

// `real` opens the real store (recording; never called when replaying). `table` names the
// store in the episode, `indexes` are the names index() accepts, `system` is what its
// spans call the database ("postgresql", "memory").
std::unique_ptr<JsonStore> make_episode_store(Episode& episode, std::function<JsonStore&()> real, std::string table,
                                              std::vector<std::string> indexes, std::string system);

}  // namespace snap
