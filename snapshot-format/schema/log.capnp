# The snapshot log's records. See docs/log-format.md for the byte layout around them
# (file header, frame prefixes, footer) and snapshot-format/src/log_layout.h for the
# constants.
#
# Evolving this schema: only append fields with new ordinals, never renumber or change a
# field's type. A change that an older reader may safely ignore needs no version bump;
# one that an older reader would misread bumps kFormatVersion in log_layout.h.
@0xcaf6060105f62830;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("snap::schema");

# First record of every log. Describes who wrote it; nothing here is compared on replay
# except by the layers above (e.g. the app name).
struct Header {
  appName @0 :Text;
  # Identifies the binary that wrote the log (e.g. a build id). Shown, not enforced:
  # replaying yesterday's log against today's binary is the point of regression tests.
  binaryFingerprint @1 :Text;
  writerVersion @2 :Text;
  # What the log records: "" (null in logs written before the field) for a build's
  # startup, "episode" for one request handled at runtime (docs/episodes.md). A reader of
  # one kind refuses the other by this field.
  kind @3 :Text;
}

# Where in the program an event was requested. Shown in divergence reports, never
# compared: a rebuilt binary moves lines.
struct CallSite {
  file @0 :Text;
  line @1 :UInt32;
  column @2 :UInt32;
  function @3 :Text;
}

struct Event {
  # Index into the log's kind table (built up from Chunk.newKinds). Kinds are interned
  # because a log holds millions of events and only dozens of kinds.
  kind @0 :UInt16;
  # Index into the call-site table, or 0xFFFFFFFF when the writer gave none.
  callSite @1 :UInt32;
  key @2 :Text;
  # What the program sent (for user-defined calls); replay checks it byte for byte.
  request @3 :Data;
  result :union {
    none @4 :Void;
    bytes @5 :Data;
    # Held apart from `bytes` so clock readings cost no pointer and compress to a few
    # bytes each.
    integer @6 :Int64;
    # Secrets never enter the log: only a handle that the runtime resolves itself.
    secretHandle @7 :Text;
    # The real operation failed at record time (e.g. file not found); replay fails the
    # same way.
    failure @8 :Text;
  }
}

# A batch of consecutive events. Consumers must check that firstEventIndex continues the
# previous chunk, and that every kind/callSite index is inside the tables so far.
struct Chunk {
  firstEventIndex @0 :UInt64;
  newKinds @1 :List(Text);
  newCallSites @2 :List(CallSite);
  events @3 :List(Event);
}

struct Component {
  id @0 :Text;
  type @1 :Text;
  # "" for a passive component, "daemon" or "command" for a persona.
  persona @2 :Text;
  # Canonical JSON text, compared byte for byte when manifests are diffed.
  config @3 :Text;
  uses @4 :List(Text);
  # Names of the secrets the component holds (a Password's or Secret's file name under
  # /run/secrets), never values: deployment and the tools read them here rather than
  # restate the naming rule. Written for every component, empty when it holds none; a
  # log written before this field existed has it null on every component, and consumers
  # must then not take "none" from it (LogReader reports it as
  # Manifest::secret_names_recorded = false).
  secrets @5 :List(Text);
}

struct Manifest {
  components @0 :List(Component);
}

struct Trailer {
  eventCount @0 :UInt64;
  # 64-bit digest over the 64-bit body digests (of the compressed bytes) of every frame
  # before the trailer, in order. Catches frames that are dropped, duplicated or
  # reordered, which per-frame checks cannot see.
  digest @1 :UInt64;
  complete @2 :Bool;
}

struct Record {
  union {
    header @0 :Header;
    chunk @1 :Chunk;
    manifest @2 :Manifest;
    trailer @3 :Trailer;
  }
}
