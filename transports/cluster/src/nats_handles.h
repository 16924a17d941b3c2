#pragma once
// RAII for the cnats handles the backplane holds.

#include <nats/nats.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace tickcast::cluster {

template <typename T, void (*Destroy)(T*)>
struct Destroyer {
  void operator()(T* p) const {
    if (p) Destroy(p);
  }
};

using OptionsPtr = std::unique_ptr<natsOptions, Destroyer<natsOptions, natsOptions_Destroy>>;
using ConnectionPtr =
    std::unique_ptr<natsConnection, Destroyer<natsConnection, natsConnection_Destroy>>;
using JsPtr = std::unique_ptr<jsCtx, Destroyer<jsCtx, jsCtx_Destroy>>;
using SubPtr =
    std::unique_ptr<natsSubscription, Destroyer<natsSubscription, natsSubscription_Destroy>>;
using MsgPtr = std::unique_ptr<natsMsg, Destroyer<natsMsg, natsMsg_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Destroyer<jsPubAck, jsPubAck_Destroy>>;
using MetaPtr = std::unique_ptr<jsMsgMetaData, Destroyer<jsMsgMetaData, jsMsgMetaData_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Destroyer<jsStreamInfo, jsStreamInfo_Destroy>>;

/// status_text names a cnats status with the library's last error text, if any.
inline std::string status_text(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last && *last && text != last) text += std::string(": ") + last;
  return text;
}

/// check throws std::runtime_error naming `what` when `s` is not NATS_OK.
inline void check(natsStatus s, const std::string& what) {
  if (s != NATS_OK) throw std::runtime_error(what + ": " + status_text(s));
}

}  // namespace tickcast::cluster
