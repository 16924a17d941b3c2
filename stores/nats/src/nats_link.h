#pragma once
// The store's names for the cnats handles and the engine link, which it shares with the
// transport layer's backplane (tickcast::cluster).

#include "tickcast/cluster/internal/nats_link.h"

namespace tickcast::nats {

using cluster::Deleter;
using cluster::KvEntryPtr;
using cluster::KvPtr;
using cluster::Link;
using cluster::MetaPtr;
using cluster::MsgPtr;
using cluster::PubAckPtr;
using cluster::status_text;
using cluster::StreamInfoPtr;
using cluster::SubPtr;

}  // namespace tickcast::nats
