//! Finishing Arrow builders without losing their capacity: `finish` leaves a builder with empty
//! buffers, so every batch would regrow them by doubling (and copying). A builder finished with
//! [`FinishReserving::finish_reserving`] starts the next batch with the room the last one needed.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanBuilder, PrimitiveBuilder, StringBuilder,
};

/// Finish into an array, then reserve what that array needed for the next batch.
pub(crate) trait FinishReserving {
    /// The finished array; the builder is empty but keeps capacity for as many values.
    fn finish_reserving(&mut self) -> ArrayRef;
}

impl FinishReserving for StringBuilder {
    fn finish_reserving(&mut self) -> ArrayRef {
        let a = self.finish();
        *self = StringBuilder::with_capacity(a.len(), a.value_data().len());
        Arc::new(a)
    }
}

impl<T: ArrowPrimitiveType> FinishReserving for PrimitiveBuilder<T> {
    fn finish_reserving(&mut self) -> ArrayRef {
        let a = self.finish();
        *self = PrimitiveBuilder::<T>::with_capacity(a.len()).with_data_type(a.data_type().clone());
        Arc::new(a)
    }
}

impl FinishReserving for BooleanBuilder {
    fn finish_reserving(&mut self) -> ArrayRef {
        let a = self.finish();
        *self = BooleanBuilder::with_capacity(a.len());
        Arc::new(a)
    }
}
