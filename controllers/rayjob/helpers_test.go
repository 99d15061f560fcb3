package rayjob_test

import "sigs.k8s.io/controller-runtime/pkg/client"

func clientMergeFrom(obj client.Object) client.Patch { return client.MergeFrom(obj) }
