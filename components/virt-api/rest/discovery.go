package rest

import (
	"encoding/json"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// The subresources as discovery lists them; kubectl and the aggregation layer read it.
func resourceList() *metav1.APIResourceList {
	put := metav1.Verbs{"put"}
	get := metav1.Verbs{"get"}
	r := func(name string, verbs metav1.Verbs) metav1.APIResource {
		return metav1.APIResource{Name: name, Namespaced: true, Verbs: verbs}
	}
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: subresourcesv1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{
			r("virtualmachines/start", put), r("virtualmachines/stop", put), r("virtualmachines/restart", put),
			r("virtualmachines/migrate", put),
			r("virtualmachines/evacuate/cancel", put), r("virtualmachineinstances/evacuate/cancel", put),
			r("virtualmachineinstances/pause", put), r("virtualmachineinstances/unpause", put),
			r("virtualmachineinstances/console", get), r("virtualmachineinstances/vnc", get),
			r("virtualmachineinstances/guestosinfo", get), r("virtualmachineinstances/bootstrapstatus", get),
			r("virtualmachineinstances/portforward", get), r("virtualmachines/portforward", get),
		},
	}
}

func (a *API) discoveryGroup(w http.ResponseWriter, _ *http.Request) {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: subresourcesv1.SchemeGroupVersion.String(), Version: subresourcesv1.SchemeGroupVersion.Version}
	writeJSON(w, &metav1.APIGroup{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:     subresourcesv1.GroupName, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv,
	})
}

func (a *API) discoveryResources(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, resourceList())
}

func (a *API) version(w http.ResponseWriter, _ *http.Request) { writeJSON(w, a.Version) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
