#include "tickcast/nats/nats_store.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string_view>
#include <thread>

#include "nats_link.h"
#include "node_lease.h"
#include "record_codec.h"

namespace tickcast::nats {

std::vector<std::string> parse_servers(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

namespace {

constexpr const char* kMetaKey = "meta_last_commit";
constexpr const char* kRoomKeyPrefix = "r_";

std::string failure(const char* what, natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string text = std::string(what) + ": " + status_text(s);
  if (code != 0) text += " (jetstream error " + std::to_string(static_cast<int>(code)) + ")";
  return text;
}

// transient: the engine did not answer, or answered that it is electing a leader (nats
// 2.9 answers "no responders" while a stream has no leader): trying again is safe.
// Runs step until it no longer throws NatsOpenError, for up to 30 s: a cluster just started
// (or restarted) elects its JetStream meta leader and then each stream's leader, and until
// then answers "temporarily unavailable" or not at all.
template <typename Step>
auto retry_while_electing(Step step) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    try {
      return step();
    } catch (const NatsOpenError&) {
      if (std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
}

bool transient(natsStatus s, jsErrCode code) {
  if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
      s == NATS_CONNECTION_DISCONNECTED || s == NATS_NOT_YET_CONNECTED) {
    return true;
  }
  return code == 0 || code == JSClusterNotAvailErr || code == JSClusterNotActiveErr ||
         code == JSClusterNoPeersErr;
}

}  // namespace

struct NatsRoomStore::Impl {
  NatsOptions options;
  std::unique_ptr<Link> link;
  KvPtr kv;
  std::string stream;
  std::string bucket;
  std::string subject_prefix;  // tickcast.CLUSTER.ev.
  std::unique_ptr<NodeLease> lease;
  std::function<void(const std::string&)> lost;
  // The stream sequence of each room's last event as this writer knows it: every publish
  // expects it (Nats-Expected-Last-Subject-Sequence), so a writer that another has
  // overtaken is refused by the engine. Unknown (0): asked from the stream leader first.
  std::map<std::string, std::uint64_t> last_stream_seq;
  bool conflict = false;   // a publish found its seq stored with another payload
  bool retryable = false;  // the last publish got no answer: trying again is safe (Msg-Id)

  std::string subject(const std::string& room) const { return subject_prefix + hex_encode(room); }

  void ensure_stream() {
    const std::string wildcard = subject_prefix + "*";
    const char* subjects[] = {wildcard.c_str()};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options.replicas;
    cfg.MaxMsgsPerSubject = static_cast<int64_t>(std::max<std::size_t>(options.history, 1));
    cfg.AllowDirect = true;
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&si, link->js(), &cfg, nullptr, &code);
    if (s != NATS_OK) {
      // Already there (another node made it): bring its per-subject history to ours.
      s = js_UpdateStream(&si, link->js(), &cfg, nullptr, &code);
    }
    StreamInfoPtr info(si);
    if (s != NATS_OK) throw NatsOpenError(failure(("stream " + stream).c_str(), s, code));
  }

  void ensure_bucket() {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket.c_str();
    cfg.History = 1;
    cfg.StorageType = js_FileStorage;
    cfg.Replicas = options.replicas;
    kvStore* raw = nullptr;
    natsStatus s = js_CreateKeyValue(&raw, link->js(), &cfg);
    if (s != NATS_OK) s = js_KeyValue(&raw, link->js(), bucket.c_str());
    if (s != NATS_OK) throw NatsOpenError(failure(("bucket " + bucket).c_str(), s));
    kv.reset(raw);
  }

  // The room's newest events, oldest first, read through an ordered consumer up to the last
  // message of the room's subject as the stream leader knows it now.
  StoreContents load(std::size_t history);

  std::vector<StoredEvent> read_events(const std::string& room, std::size_t history) {
    std::vector<StoredEvent> events;
    const std::string subj = subject(room);
    jsErrCode code = static_cast<jsErrCode>(0);
    natsMsg* last_raw = nullptr;
    natsStatus s =
        js_GetLastMsg(&last_raw, link->js(), stream.c_str(), subj.c_str(), nullptr, &code);
    MsgPtr last(last_raw);
    if (s == NATS_NOT_FOUND) return events;
    if (s != NATS_OK) throw NatsOpenError(failure(("last event of " + room).c_str(), s, code));
    const uint64_t last_seq = natsMsg_GetSequence(last.get());
    last_stream_seq[room] = last_seq;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription* raw = nullptr;
    s = js_SubscribeSync(&raw, link->js(), subj.c_str(), nullptr, &so, &code);
    if (s != NATS_OK) throw NatsOpenError(failure(("events of " + room).c_str(), s, code));
    SubPtr sub(raw);
    for (;;) {
      natsMsg* m_raw = nullptr;
      s = natsSubscription_NextMsg(&m_raw, sub.get(), options.request_timeout_ms);
      if (s != NATS_OK) throw NatsOpenError(failure(("events of " + room).c_str(), s));
      MsgPtr m(m_raw);
      jsMsgMetaData* meta_raw = nullptr;
      if (natsMsg_GetMetaData(&meta_raw, m.get()) != NATS_OK) continue;
      MetaPtr meta(meta_raw);
      const char* seq_text = nullptr;
      const char* drop_text = nullptr;
      if (natsMsgHeader_Get(m.get(), "Tc-Seq", &seq_text) == NATS_OK && seq_text) {
        StoredEvent e;
        e.seq = std::strtoull(seq_text, nullptr, 10);
        e.droppable = natsMsgHeader_Get(m.get(), "Tc-Droppable", &drop_text) == NATS_OK &&
                      drop_text && std::strcmp(drop_text, "1") == 0;
        e.payload.assign(natsMsg_GetData(m.get()),
                         static_cast<std::size_t>(natsMsg_GetDataLength(m.get())));
        const char* origin = nullptr;
        if (natsMsgHeader_Get(m.get(), "Tc-Origin", &origin) == NATS_OK && origin)
          e.origin = origin;
        // A retried commit may have stored an event again under a new stream sequence
        // after the dedup window: the same seq replaces, a lower one is dropped.
        while (!events.empty() && events.back().seq >= e.seq) events.pop_back();
        events.push_back(std::move(e));
        if (events.size() > history) events.erase(events.begin());
      }
      if (meta->Sequence.Stream >= last_seq) break;
    }
    natsSubscription_Unsubscribe(sub.get());
    return events;
  }

  std::optional<std::string> publish(const AppendedEvent& e) {
    const std::string subj = subject(e.room);
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, subj.c_str(), nullptr, e.event.payload.data(),
                                  static_cast<int>(e.event.payload.size()));
    MsgPtr msg(raw);
    if (s != NATS_OK) return failure("event", s);
    const std::string seq = std::to_string(e.event.seq);
    natsMsgHeader_Set(msg.get(), "Tc-Seq", seq.c_str());
    if (e.event.droppable) natsMsgHeader_Set(msg.get(), "Tc-Droppable", "1");
    // A forwarded command's id: a new writer answers its retry without running it again.
    if (!e.event.origin.empty()) natsMsgHeader_Set(msg.get(), "Tc-Origin", e.event.origin.c_str());
    // Followers restore the room's timer from it (the same commit as the event).
    const std::string record = encode_record(e.record);
    natsMsgHeader_Set(msg.get(), "Tc-Record", record.c_str());
    const std::string id = hex_encode(e.room) + ":" + seq;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    auto& expected = last_stream_seq[e.room];
    if (expected == 0) {
      natsMsg* last_raw = nullptr;
      jsErrCode last_code = static_cast<jsErrCode>(0);
      const natsStatus ls =
          js_GetLastMsg(&last_raw, link->js(), stream.c_str(), subj.c_str(), nullptr, &last_code);
      MsgPtr last(last_raw);
      if (ls == NATS_OK) {
        expected = natsMsg_GetSequence(last.get());
      } else if (ls != NATS_NOT_FOUND) {
        retryable = transient(ls, last_code);
        return failure(("last event of " + e.room).c_str(), ls, last_code);
      }
    }
    if (expected != 0) {
      po.ExpectLastSubjectSeq = expected;
    } else {
      po.ExpectNoMessage = true;
    }
    po.MaxWait = options.request_timeout_ms;
    jsPubAck* ack_raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_PublishMsg(&ack_raw, link->js(), msg.get(), &po, &code);
    PubAckPtr ack(ack_raw);
    if (s != NATS_OK) {
      // Asked again next time: the publish may be stored after all. No answer (an
      // election, a lost link) is worth a retry; a subject that moved on without this
      // writer means another writer holds it.
      expected = 0;
      retryable = transient(s, code);
      conflict = code == JSStreamWrongLastSequenceErr;
      if (conflict && renumbered(subj, e.event.seq)) {
        conflict = false;  // our own last event under the new leader's numbering: again
        retryable = true;
      }
      return failure(("publish to " + e.room).c_str(), s, code);
    }
    if (ack->Duplicate) {
      // The dedup window answers before the expected-sequence check: a stored event with
      // this room and seq is only ours if it holds our payload; else another writer got
      // there first and this one is stale.
      natsMsg* stored_raw = nullptr;
      s = js_GetMsg(&stored_raw, link->js(), stream.c_str(), ack->Sequence, nullptr, &code);
      MsgPtr stored(stored_raw);
      if (s != NATS_OK) return failure(("check duplicate of " + e.room).c_str(), s, code);
      const std::string_view data(natsMsg_GetData(stored.get()),
                                  static_cast<std::size_t>(natsMsg_GetDataLength(stored.get())));
      if (data != e.event.payload) {
        conflict = true;
        return "seq " + seq + " of room " + e.room + " is stored by another writer";
      }
    }
    expected = ack->Sequence;
    return std::nullopt;
  }

  // renumbered: whether the subject's last event, as the stream's leader has it, is the
  // room's event before `seq`. Only the lease holder writes, so then it is this writer's own,
  // stored under another stream sequence: after a leader change nats-server 2.9.10's
  // replicas can number the same messages differently.
  bool renumbered(const std::string& subj, std::uint64_t seq) {
    natsMsg* raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    if (js_GetLastMsg(&raw, link->js(), stream.c_str(), subj.c_str(), nullptr, &code) != NATS_OK) {
      return false;
    }
    MsgPtr last(raw);
    const char* text = nullptr;
    if (natsMsgHeader_Get(last.get(), "Tc-Seq", &text) != NATS_OK || !text) return false;
    return std::strtoull(text, nullptr, 10) + 1 == seq;
  }

  std::optional<std::string> put(const std::string& key, const std::string& value) {
    uint64_t rev = 0;
    natsStatus s =
        kvStore_Put(&rev, kv.get(), key.c_str(), value.data(), static_cast<int>(value.size()));
    if (s != NATS_OK) {
      retryable = transient(s, static_cast<jsErrCode>(0));
      return failure(("put " + key).c_str(), s);
    }
    return std::nullopt;
  }

  std::optional<std::string> remove(const std::string& room) {
    const std::string key = kRoomKeyPrefix + hex_encode(room);
    natsStatus s = kvStore_Delete(kv.get(), key.c_str());
    if (s != NATS_OK) return failure(("delete " + room).c_str(), s);
    const std::string subj = subject(room);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Stream.Purge.Subject = subj.c_str();
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_PurgeStream(link->js(), stream.c_str(), &jo, &code);
    last_stream_seq.erase(room);
    if (s != NATS_OK) return failure(("purge " + room).c_str(), s, code);
    return std::nullopt;
  }
};

std::unique_ptr<NatsRoomStore> NatsRoomStore::open(const NatsOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::string joined;
  for (const auto& s : options.servers) joined += (joined.empty() ? "" : ",") + s;
  if (options.servers.empty()) throw NatsOpenError("no NATS server given");
  for (char c : options.cluster) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      throw NatsOpenError("cluster name '" + options.cluster + "': letters, digits and _ only");
    }
  }
  impl->stream = "TICKCAST_" + options.cluster;
  impl->bucket = "tickcast_" + options.cluster;
  impl->subject_prefix = "tickcast." + options.cluster + ".ev.";
  try {
    impl->link = std::make_unique<Link>(
        options.servers, "tickcast " + (options.node_id.empty() ? "node" : options.node_id),
        options.request_timeout_ms);
    retry_while_electing([&] {
      impl->ensure_stream();
      impl->ensure_bucket();
    });
  } catch (const NatsOpenError& e) {
    throw NatsOpenError(joined + ": " + e.what());
  } catch (const std::exception& e) {
    throw NatsOpenError(joined + ": " + e.what());
  }
  return std::unique_ptr<NatsRoomStore>(new NatsRoomStore(std::move(impl)));
}

NatsRoomStore::NatsRoomStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NatsRoomStore::~NatsRoomStore() = default;

bool NatsRoomStore::connected() const { return impl_->link->connected(); }
const std::string& NatsRoomStore::stream_name() const { return impl_->stream; }
const std::string& NatsRoomStore::bucket_name() const { return impl_->bucket; }

StoreContents NatsRoomStore::load(std::size_t history) {
  return retry_while_electing([&] { return impl_->load(history); });
}

StoreContents NatsRoomStore::Impl::load(std::size_t history) {
  StoreContents contents;
  Impl& d = *this;
  kvKeysList keys{};
  natsStatus s = kvStore_Keys(&keys, d.kv.get(), nullptr);
  if (s == NATS_NOT_FOUND) return contents;
  if (s != NATS_OK) throw NatsOpenError(failure("keys", s));
  struct KeysGuard {
    kvKeysList* list;
    ~KeysGuard() { kvKeysList_Destroy(list); }
  } guard{&keys};
  for (int i = 0; i < keys.Count; ++i) {
    const std::string key = keys.Keys[i];
    kvEntry* raw = nullptr;
    const natsStatus gs = kvStore_Get(&raw, d.kv.get(), key.c_str());
    KvEntryPtr entry(raw);
    if (gs == NATS_NOT_FOUND) continue;  // removed since the keys were listed
    // Any other failure is retried whole: skipping the key would lose the room.
    if (gs != NATS_OK) throw NatsOpenError(failure(("record " + key).c_str(), gs));
    const std::string value(static_cast<const char*>(kvEntry_Value(entry.get())),
                            static_cast<std::size_t>(kvEntry_ValueLen(entry.get())));
    if (key == kMetaKey) {
      contents.last_commit_wall_us = std::strtoll(value.c_str(), nullptr, 10);
      continue;
    }
    if (key.rfind(kRoomKeyPrefix, 0) != 0) continue;
    auto record = decode_record(value);
    if (!record) continue;
    LoadedRoom room;
    room.events = d.read_events(record->name, history);
    room.record = std::move(*record);
    contents.rooms.push_back(std::move(room));
  }
  return contents;
}

bool NatsRoomStore::hold_lease(const std::function<void(const std::string&)>& waiting,
                               std::function<void(const std::string&)> lost,
                               const std::function<bool()>& cancelled) {
  Impl& d = *impl_;
  d.lost = std::move(lost);
  d.lease =
      std::make_unique<NodeLease>(d.kv.get(), d.link->js(), d.bucket, "lease", d.options.node_id,
                                  std::chrono::milliseconds(d.options.lease_ms), d.lost);
  if (!d.lease->acquire(waiting, cancelled)) return false;
  // What another writer stored before this node got the lease is read again on demand.
  d.last_stream_seq.clear();
  return true;
}

bool NatsRoomStore::lease_fresh() const { return impl_->lease && impl_->lease->fresh(); }

std::optional<std::string> NatsRoomStore::commit(const StoreBatch& batch, std::size_t) {
  Impl& d = *impl_;
  if (d.lease) {
    if (auto lost = d.lease->confirm()) {
      d.lost(*lost);  // ends the process: nothing of this batch reaches a client
      return lost;
    }
  }
  for (const std::string& name : batch.removed) {
    if (auto f = d.remove(name)) return f;
  }
  // Write-ahead through an election: a publish that got no answer is sent again (the
  // Nats-Msg-Id makes a second copy a duplicate) for up to 30 s, the lease confirmed each
  // time, so ticks pause for the election instead of starting a new history.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // Records too (the bucket's stream has its own leader): a put is idempotent.
  auto with_retries = [&](const std::function<std::optional<std::string>()>& step) {
    for (;;) {
      d.retryable = false;
      d.conflict = false;
      auto f = step();
      if (!f) return f;
      // Overtaken by another writer: stop before anything is published (fail-stop).
      if (d.conflict && d.lost) d.lost(*f);
      if (!d.retryable || std::chrono::steady_clock::now() > give_up) return f;
      if (d.lease) {
        if (auto lost = d.lease->confirm()) {
          d.lost(*lost);
          return lost;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  for (const AppendedEvent& e : batch.events) {
    if (auto f = with_retries([&] { return d.publish(e); })) return f;
  }
  for (const RoomRecord& r : batch.rooms) {
    const std::string key = kRoomKeyPrefix + hex_encode(r.name);
    const std::string value = encode_record(r);
    if (auto f = with_retries([&] { return d.put(key, value); })) return f;
  }
  const std::string wall = std::to_string(batch.wall_time_us);
  return with_retries([&] { return d.put(kMetaKey, wall); });
}

}  // namespace tickcast::nats
