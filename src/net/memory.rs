//! In-memory network with a scripted responder. STUB: the wire helper writes it.
