#ifndef METRON_CGSL_SHIM_H
#define METRON_CGSL_SHIM_H
#include <gsl/gsl_errno.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_vector.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_blas.h>

// GSL's globals are not concurrency-safe in Swift 6: expose them through getters.
static inline const gsl_rng_type *metron_gsl_rng_mt19937(void) { return gsl_rng_mt19937; }
static inline const gsl_multifit_nlinear_type *metron_gsl_nlinear_trust(void) { return gsl_multifit_nlinear_trust; }
static inline const gsl_multifit_nlinear_trs *metron_gsl_nlinear_trs_lm(void) { return gsl_multifit_nlinear_trs_lm; }
static inline const gsl_multimin_fminimizer_type *metron_gsl_multimin_nmsimplex2(void) { return gsl_multimin_fminimizer_nmsimplex2; }

// GSL aborts on error by default; Metron turns status codes into Swift errors instead.
static inline void metron_gsl_disable_abort(void) { gsl_set_error_handler_off(); }

static inline double metron_gsl_vector_get(const gsl_vector *v, size_t i) { return gsl_vector_get(v, i); }
static inline void metron_gsl_vector_set(gsl_vector *v, size_t i, double x) { gsl_vector_set(v, i, x); }
static inline double metron_gsl_matrix_get(const gsl_matrix *m, size_t i, size_t j) { return gsl_matrix_get(m, i, j); }
static inline void metron_gsl_matrix_set(gsl_matrix *m, size_t i, size_t j, double x) { gsl_matrix_set(m, i, j, x); }
#endif
