//! Service names by port. STUB: the output helper writes it.
