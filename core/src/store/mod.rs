//! The store. (Being written.)
