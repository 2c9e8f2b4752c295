//! kubesim's controller runtime vs kube-runtime's Controller (being written).
