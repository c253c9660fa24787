//! Bounded waiting on coordination files and endpoints while watching peers, shared by
//! `waitfiles` and the role runner (skeleton: being built).
