// The scripts of bin/ and the volume state a build leaves for the next one.
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "text.h"
#include "writers.h"

namespace snap::deploy_plan {

namespace {

// The part of a compose bin/ script that finds the deployment it acts on and sets
// $project (and $here, the build's directory): $COMPOSE_PROJECT_NAME, else the one
// compose project that runs this app from this directory (compose labels each container
// with its project and working directory, the compose file with snap.app). Starting none
// itself: `docker-compose run` in a project that is not up would start a second, empty
// deployment (named after the directory) and the script would act on it.
void find_compose_project(std::ostream& out, const ServiceGraph& g) {
  out << "here=$(cd \"$(dirname \"$0\")/..\" && pwd -P) || exit 1\n"
         "app="
      << shell_quote(g.input.app_name)
      << "\n"
         "found=$(docker ps --filter \"label=snap.app=$app\" --filter label=com.docker.compose.oneoff=False \\\n"
         "  --format '{{.Label \"com.docker.compose.project\"}} {{.Label \"com.docker.compose.project.working_dir\"}}') || exit 1\n"
         "running= mine= named= choices=\n"
         "while read -r project dir; do\n"
         "  [ -n \"$project\" ] || continue\n"
         "  case \" $running \" in *\" $project \"*) continue ;; esac\n"
         "  running=\"${running:+$running }$project\"\n"
         "  choices=\"$choices\n  COMPOSE_PROJECT_NAME=$project $0 ...   (running from $dir)\"\n"
         "  [ \"$project\" = \"${COMPOSE_PROJECT_NAME:-}\" ] && named=$project\n"
         "  [ \"$(cd \"$dir\" 2>/dev/null && pwd -P)\" = \"$here\" ] && mine=\"${mine:+$mine }$project\"\n"
         "done <<EOF\n"
         "$(printf '%s\\n' \"$found\" | sort)\n"
         "EOF\n"
         "refuse() {\n"
         "  echo \"$0: $2\" >&2\n"
         "  if [ -n \"$running\" ]; then\n"
         "    echo \"name the deployment to run against:$choices\" >&2\n"
         "  else\n"
         "    echo \"start it first: docker-compose -p NAME -f $here/docker-compose.yml up -d, then\" \\\n"
         "      \"COMPOSE_PROJECT_NAME=NAME $0 ...\" >&2\n"
         "  fi\n"
         "  exit \"$1\"\n"
         "}\n"
         "if [ -n \"${COMPOSE_PROJECT_NAME:-}\" ]; then\n"
         "  [ -n \"$named\" ] || refuse 69 \"no deployment of $app named $COMPOSE_PROJECT_NAME (\\$COMPOSE_PROJECT_NAME) is running\"\n"
         "  project=$named\n"
         "else\n"
         "  case $mine in\n"
         "    \"\") refuse 69 \"no deployment of $app from $here is running\" ;;\n"
         "    *\" \"*) refuse 64 \"several deployments of $app from $here are running ($mine)\" ;;\n"
         "  esac\n"
         "  project=$mine\n"
         "fi\n";
}

}  // namespace

// bin/NAME: a command, or a job run again, in its own container (its secrets and networks
// only) against the running deployment (find_compose_project).
std::string command_script(const ServiceGraph& g, const Service& s) {
  const bool job = s.kind == ServiceKind::kJob;
  std::ostringstream out;
  out << "#!/bin/sh\n"
      << header(g.input.app_name) << "# Runs the " << (job ? "job " : "command ") << s.component->id
      << (job ? " again" : " once")
      << ", in its own container (its secrets, its networks\n"
         "# only), against the running deployment, and exits with its status.\n"
         "# Usage: bin/"
      << s.name
      << " [ARGS...]\n"
         "# The deployment: $COMPOSE_PROJECT_NAME, else the one running from this directory. With\n"
         "# none running it refuses (status 69), with several too (status 64), saying how to name one.\n";
  find_compose_project(out, g);
  out << "tty=\n"
         "[ -t 0 ] && [ -t 1 ] || tty=-T\n"
         "exec docker-compose -p \"$project\" -f \"$here/docker-compose.yml\" run --rm $tty "
      << s.name << (job ? " --again " : " ") << shell_quote(s.component->id) << " \"$@\"\n";
  return out.str();
}

// The swarm twin of command_script(): the command as a one-off swarm job (Docker 20.10's
// replicated-job mode) with the image, user, hardening, networks and secrets its
// service has in docker-stack.yml; its output is the task's log, its status the task's.
std::string stack_command_script(const ServiceGraph& g, const Service& s) {
  const std::string uid = std::to_string(s.uid);
  std::ostringstream out;
  out << "#!/bin/sh\n"
      << header(g.input.app_name) << "# Runs the command " << s.component->id
      << " once on a swarm, as a job of its own (its secrets, its networks\n"
         "# only), against the stack deployed from docker-stack.yml, and exits with the command's\n"
         "# status. Its output is the job's log: stdout and stderr, shown once it has finished.\n"
         "# The job is removed when it ends (and with the stack: `docker stack rm` takes it too).\n"
         "# Usage: bin/stack/"
      << s.name
      << " STACK [ARGS...]   (image: $SNAP_IMAGE, as for the stack)\n"
         "[ $# -ge 1 ] || { echo \"usage: $0 STACK [ARGS...]\" >&2; exit 64; }\n"
         "stack=$1\n"
         "shift\n"
         "job=\"${stack}_"
      << s.name
      << "-run-$$\"\n"
         "docker service create --quiet --detach --no-resolve-image --mode replicated-job \\\n"
         "  --restart-condition none --name \"$job\" --label \"com.docker.stack.namespace=$stack\" \\\n"
         "  --user "
      << uid << ":" << uid
      << " --read-only --cap-drop ALL --init \\\n"
         "  --mount type=tmpfs,target=/tmp \\\n";
  for (const std::string& n : stack_networks(s)) out << "  --network \"${stack}_" << n << "\" \\\n";
  for (const auto& [name, value] : service_environment(g, s)) {
    out << "  --env " << shell_quote(name + "=" + value) << " \\\n";
  }
  for (const DeploySecretFile* f : secrets_of(g, s)) {
    out << "  --secret \"source=${stack}_" << stack_secret_key(*f) << ",target=" << f->secret << ",uid=" << uid
        << ",gid=" << uid << ",mode=0400\" \\\n";
  }
  out << "  \"${SNAP_IMAGE:-snap-" << g.app_file << "}\" " << shell_quote(s.component->id)
      << " \"$@\" >/dev/null || exit 1\n"
         "trap 'docker service rm \"$job\" >/dev/null 2>&1' EXIT\n"
         "trap 'exit 130' INT TERM\n"
         "while :; do\n"
         "  state=$(docker service ps --format '{{.CurrentState}}' \"$job\" 2>/dev/null | head -n 1)\n"
         "  case $state in Complete*|Failed*|Rejected*|Shutdown*|Orphaned*) break ;; esac\n"
         "  sleep 0.2\n"
         "done\n"
         "docker service logs --raw \"$job\"\n"
         "case $state in Complete*) exit 0 ;; esac\n"
         "task=$(docker service ps -q --no-trunc \"$job\" | head -n 1)\n"
         "status=$(docker inspect --format '{{.Status.ContainerStatus.ExitCode}}' \"$task\" 2>/dev/null)\n"
         "[ -n \"$status\" ] && [ \"$status\" != 0 ] && exit \"$status\"\n"
         "echo \"$0: the job ended $state\" >&2\n"
         "exit 1\n";
  return out.str();
}

namespace {

// The recording services, by name ("api, billing-api"), for messages.
std::string recording_names(const ServiceGraph& g) {
  std::string names;
  for (const Service& s : g.services) {
    if (s.records_requests) names += (names.empty() ? "" : ", ") + s.name;
  }
  return names;
}

// bin/episodes and bin/stack/episodes: their comment, usage and arguments, parsed before
// anything runs so that a mistake is a usage error (status 64) touching nothing. `script`
// is how the usage names it, `stack` its leading STACK argument ("" for compose).
void episodes_arguments(std::ostream& out, const ServiceGraph& g, const std::string& script, const std::string& stack) {
  out << "#!/bin/sh\n"
      << header(g.input.app_name)
      << "# The requests the deployment's API servers recorded (episodes), listed, or fetched to this\n"
         "# host to replay them in one process: app/"
      << g.app_file
      << " replay episodes/FILE.episode (docs/deploy.md,\n"
         "# \"Recorded requests (episodes)\"). Recording: "
      << recording_names(g) << ", with the policy " << g.record_policy
      << "\n# unless a container was told otherwise at deploy ($SNAP_RECORD_REQUESTS_<SERVICE>).\n"
         "# Usage: "
      << script << stack << " list [--failed] [--since TIME] [--id ID]\n"
      << "#        " << script << stack
      << " fetch ID|--failed|--since TIME [DIR]   (DIR: episodes/ of this build)\n"
         "# ID: an episode's file name, or a prefix of its trace id; TIME: UTC, 2026-12-07T10:15:00Z or\n"
         "# a prefix of it. Status 1 when no container of a recording server is there, or (fetch) when\n"
         "# nothing matches; 64 for a mistake in the arguments.\n"
         "usage() {\n"
         "  echo \"usage: $0"
      << stack << " list [--failed] [--since TIME] [--id ID]\" >&2\n"
      << "  echo \"       $0" << stack
      << " fetch ID|--failed|--since TIME [DIR]\" >&2\n"
         "  exit 64\n"
         "}\n";
  if (!stack.empty()) out << "[ $# -ge 1 ] || usage\nstack=$1\nshift\n";
  out << "[ $# -ge 1 ] || usage\n"
         "action=$1\n"
         "shift\n"
         "case $action in list|fetch) ;; *) echo \"$0: no action $action\" >&2; usage ;; esac\n"
         "failed= since= id= into= chosen=\n"
         "while [ $# -gt 0 ]; do\n"
         "  case $1 in\n"
         "    --failed) failed=--failed chosen=1 ;;\n"
         "    --since|--id)\n"
         "      [ $# -ge 2 ] && [ -n \"$2\" ] || { echo \"$0: $1 needs a value\" >&2; usage; }\n"
         "      if [ \"$1\" = --since ]; then since=$2; else id=$2; fi\n"
         "      chosen=1\n"
         "      shift ;;\n"
         "    -*) echo \"$0: unknown flag $1\" >&2; usage ;;\n"
         "    *)\n"
         "      # fetch: the first word is the ID unless --failed or --since came first; then DIR.\n"
         "      if [ \"$action\" = fetch ] && [ -z \"$chosen\" ]; then\n"
         "        id=$1 chosen=1\n"
         "      elif [ \"$action\" = fetch ] && [ -z \"$into\" ]; then\n"
         "        into=$1\n"
         "      else\n"
         "        echo \"$0: unexpected argument $1\" >&2\n"
         "        usage\n"
         "      fi ;;\n"
         "  esac\n"
         "  shift\n"
         "done\n"
         "[ \"$action\" = list ] || [ -n \"$chosen\" ] || { echo \"$0: fetch which? an ID, --failed or --since TIME\" >&2; usage; }\n"
         "tmp=$(mktemp -d \"${TMPDIR:-/tmp}/"
      << g.app_file
      << "-episodes.XXXXXX\") || exit 1\n"
         "trap 'rm -rf \"$tmp\"' EXIT\n"
         "trap 'exit 130' INT TERM\n"
         "containers=0\n";
}

// The rest, once every container's episodes are in $tmp: the host's copy of the binary
// reads them (no program code runs: `APP episodes`) and picks what was asked for.
void episodes_selection(std::ostream& out, const ServiceGraph& g, const std::string& where) {
  out << "[ \"$containers\" -gt 0 ] || { echo \"$0: no container of "
      << recording_names(g) << " " << where
      << ": nothing to read recorded requests from\" >&2; exit 1; }\n"
         "set -- \"$tmp\"/*.episode\n"
         "if [ ! -e \"$1\" ]; then\n"
         "  echo \"$0: no request recorded yet (in $containers container(s) of "
      << recording_names(g)
      << ")\" >&2\n"
         "  [ \"$action\" = list ] && exit 0\n"
         "  exit 1\n"
         "fi\n"
         "binary=\"$here/app/"
      << g.app_file
      << "\"\n"
         "if [ \"$action\" = list ]; then\n"
         "  \"$binary\" episodes \"$tmp\" $failed ${since:+--since \"$since\"} ${id:+--id \"$id\"}\n"
         "  exit\n"
         "fi\n"
         "paths=$(\"$binary\" episodes \"$tmp\" --paths $failed ${since:+--since \"$since\"} ${id:+--id \"$id\"}) || exit 1\n"
         "[ -n \"$paths\" ] || { echo \"$0: no recorded request matches\" >&2; exit 1; }\n"
         "into=${into:-$here/episodes}\n"
         "mkdir -p \"$into\" || exit 1\n"
         "n=0\n"
         "while IFS= read -r path; do\n"
         "  cp \"$path\" \"$into/\" || exit 1\n"
         "  echo \"$into/${path##*/}\"\n"
         "  n=$((n + 1))\n"
         "done <<EOF\n"
         "$paths\n"
         "EOF\n"
         "echo \"$0: fetched $n episode(s) into $into; replay one: $here/app/"
      << g.app_file << " replay $into/FILE.episode\" >&2\n";
}

}  // namespace

// bin/episodes: from each container (running or stopped) of each recording service of the
// compose deployment (found as bin/NAME finds it), its episodes volume copied out with
// `docker cp` (which reads a volume of a read-only container too).
std::string episodes_script(const ServiceGraph& g) {
  std::ostringstream out;
  episodes_arguments(out, g, "bin/episodes", "");
  find_compose_project(out, g);
  out << "from_service() {  # SERVICE DIRECTORY\n"
         "  for container in $(docker-compose -p \"$project\" -f \"$here/docker-compose.yml\" ps -q \"$1\"); do\n"
         "    docker cp \"$container:$2/.\" \"$tmp/\" || exit 1\n"
         "    containers=$((containers + 1))\n"
         "  done\n"
         "}\n";
  for (const Service& s : g.services) {
    if (s.records_requests) out << "from_service " << shell_quote(s.name) << " " << shell_quote(episodes_path(s)) << "\n";
  }
  episodes_selection(out, g, "in the deployment $project");
  return out.str();
}

// bin/stack/episodes STACK: the same from the running tasks of the stack's recording
// services on this node (each node's tasks write to that node's volume: run it on each
// node, or with DOCKER_HOST naming it).
std::string stack_episodes_script(const ServiceGraph& g) {
  std::ostringstream out;
  episodes_arguments(out, g, "bin/stack/episodes", " STACK");
  out << "here=$(cd \"$(dirname \"$0\")/../..\" && pwd -P) || exit 1\n"
         "from_service() {  # SERVICE DIRECTORY\n"
         "  for container in $(docker ps -q --filter \"label=com.docker.swarm.service.name=${stack}_$1\"); do\n"
         "    docker cp \"$container:$2/.\" \"$tmp/\" || exit 1\n"
         "    containers=$((containers + 1))\n"
         "  done\n"
         "}\n";
  for (const Service& s : g.services) {
    if (s.records_requests) out << "from_service " << shell_quote(s.name) << " " << shell_quote(episodes_path(s)) << "\n";
  }
  episodes_selection(out, g, "(stack $stack) runs on this node");
  return out.str();
}

// Volumes of earlier builds that this build no longer has keep their data; the build
// says so and bin/remove-orphans removes them.
void add_volume_state(const ServiceGraph& g, DeployPlan& plan) {
  std::map<std::string, std::string> volumes, orphaned;
  for (const Service& s : g.services) {
    if (s.kind == ServiceKind::kDatabase) volumes[volume_of(s)] = s.component->id;
  }
  auto collect = [&](const char* key) {
    if (!g.input.previous.is_object()) return;
    const auto* v = g.input.previous.as_object().if_contains(key);
    if (!v || !v->is_object()) return;
    for (const auto& [volume, id] : v->as_object()) {
      if (!volumes.count(volume) && id.is_string()) orphaned[std::string(volume)] = std::string(id.as_string());
    }
  };
  collect("volumes");
  collect("orphaned_volumes");
  boost::json::object state, current, gone;
  for (const auto& [volume, id] : volumes) current[volume] = id;
  for (const auto& [volume, id] : orphaned) {
    gone[volume] = id;
    plan.orphaned_volumes.push_back("volume " + volume + " (database " + id +
                                    ", no longer in this build) keeps its data; bin/remove-orphans deletes it");
  }
  state["volumes"] = std::move(current);
  state["orphaned_volumes"] = std::move(gone);
  plan.files.push_back({"state/deploy.json", boost::json::serialize(state) + "\n"});

  std::string script = "#!/bin/sh\n" + header(g.input.app_name) +
                       "# Deletes the volumes of databases that earlier builds had and this one does not, WITH\n"
                       "# THEIR DATA (their containers go with `docker-compose up --remove-orphans`). The\n"
                       "# compose project: $COMPOSE_PROJECT_NAME, else this directory's name. Safe to re-run.\n"
                       "here=$(cd \"$(dirname \"$0\")/..\" && pwd) || exit 1\n"
                       "project=${COMPOSE_PROJECT_NAME:-$(basename \"$here\" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')}\n";
  if (orphaned.empty()) script += "echo \"no orphaned volumes\"\n";
  for (const auto& [volume, id] : orphaned) {
    script += "echo \"removing volume ${project}_" + volume + " (database " + replace_all(id, "\"", "") + ")\"\n";
    script += "docker volume rm \"${project}_" + volume + "\" >/dev/null 2>&1 || echo \"  (not there)\"\n";
  }
  plan.files.push_back({"bin/remove-orphans", script, true});
}

}  // namespace snap::deploy_plan
