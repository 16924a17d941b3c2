#include "event_feed.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "record_codec.h"

namespace tickcast::nats {

EventFeed::EventFeed(Link& link, std::string stream, std::string subject_prefix, std::uint64_t from,
                     Handler handler)
    : link_(link),
      stream_(std::move(stream)),
      prefix_(std::move(subject_prefix)),
      handler_(std::move(handler)),
      delivered_(from > 0 ? from - 1 : 0) {
  if (const char* stall = std::getenv("TICKCAST_FAULT_FEED_STALL_AFTER")) {
    stall_after_ = std::atoll(stall);
  }
  subscribe(from);
}

EventFeed::~EventFeed() {
  std::lock_guard lock(mutex_);
  if (sub_) natsSubscription_Unsubscribe(sub_.get());
  sub_.reset();
}

void EventFeed::subscribe(std::uint64_t from) {
  const std::string subjects = prefix_ + "*";
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream_.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = from > 0 ? from : 1;
  so.Config.Heartbeat = 1'000'000'000;  // a missed heartbeat (1 s) makes cnats resubscribe
  natsSubscription* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_Subscribe(&raw, link_.js(), subjects.c_str(), &EventFeed::on_msg, this,
                                    nullptr, &so, &code);
  if (s != NATS_OK) {
    throw std::runtime_error("event feed: " + status_text(s) + " (jetstream error " +
                             std::to_string(static_cast<int>(code)) + ")");
  }
  sub_.reset(raw);
}

void EventFeed::restart() {
  std::lock_guard lock(mutex_);
  if (sub_) natsSubscription_Unsubscribe(sub_.get());
  sub_.reset();
  stall_after_ = -1;
  subscribe(delivered_.load() + 1);
}

void EventFeed::on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
  MsgPtr owned(msg);
  static_cast<EventFeed*>(self)->handle(owned.get());
}

void EventFeed::handle(natsMsg* msg) {
  jsMsgMetaData* meta_raw = nullptr;
  if (natsMsg_GetMetaData(&meta_raw, msg) != NATS_OK) return;
  MetaPtr meta(meta_raw);
  const std::uint64_t stream_seq = meta->Sequence.Stream;
  if (stream_seq <= delivered_.load()) return;  // a resubscription's overlap
  if (stall_after_.load() == 0) return;         // the injected wedge
  if (stall_after_.load() > 0) --stall_after_;
  const std::string subject = natsMsg_GetSubject(msg);
  const char* seq_text = nullptr;
  const char* record_text = nullptr;
  const char* drop_text = nullptr;
  if (subject.rfind(prefix_, 0) == 0 && natsMsgHeader_Get(msg, "Tc-Seq", &seq_text) == NATS_OK &&
      seq_text && natsMsgHeader_Get(msg, "Tc-Record", &record_text) == NATS_OK && record_text) {
    auto room = hex_decode(subject.substr(prefix_.size()));
    auto record = decode_record(record_text);
    if (room && record) {
      ReplicatedEvent e;
      e.room = std::move(*room);
      e.record = std::move(*record);
      e.event.seq = std::strtoull(seq_text, nullptr, 10);
      e.event.droppable = natsMsgHeader_Get(msg, "Tc-Droppable", &drop_text) == NATS_OK &&
                          drop_text && std::strcmp(drop_text, "1") == 0;
      e.event.payload.assign(natsMsg_GetData(msg),
                             static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
      handler_(std::move(e));
    }
  }
  delivered_ = stream_seq;
}

std::optional<std::uint64_t> stream_last_sequence(Link& link, const std::string& stream) {
  jsStreamInfo* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&raw, link.js(), stream.c_str(), nullptr, &code) != NATS_OK) {
    return std::nullopt;
  }
  StreamInfoPtr info(raw);
  return info->State.LastSeq;
}

}  // namespace tickcast::nats
