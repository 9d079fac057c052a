//! End-to-end tests: the real `tollgate` binary against mock providers on 127.0.0.1.
