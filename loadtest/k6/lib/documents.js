// The GraphQL documents of the Rust generator, verbatim (loadtest/src/world.rs, `DOCUMENTS`).
// Keep them identical: `cargo test -p shop-loadtest --test k6` compares the two.

export const DISCOVER = `query Discover($after: String) {
  products(first: 50, after: $after) {
    edges { node { id handle title productType variants(first: 20) { edges { node { id quantityAvailable } } } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const COLLECTIONS = `{ collections(first: 100) { edges { node { handle } } } }`;

export const CARD = `fragment Card on Product {
  id handle title vendor availableForSale featuredImage { url altText }
  priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
}`;

export const PRODUCTS = `query Products($sortKey: ProductSortKeys!, $reverse: Boolean!) {
  products(first: 20, sortKey: $sortKey, reverse: $reverse) { edges { cursor node { ...Card } } pageInfo { hasNextPage endCursor } }
}`;

export const SEARCH = `query Search($q: String!) {
  products(first: 20, query: $q) { edges { cursor node { ...Card } } pageInfo { hasNextPage endCursor } }
}`;

export const PRODUCT = `query Product($handle: String!) {
  product(handle: $handle) {
    ...Card description productType tags
    images(first: 5) { edges { node { url altText width height } } }
    collections(first: 3) { edges { node { handle title } } }
    variants(first: 10) { edges { node {
      id sku title availableForSale quantityAvailable selectedOptions { name value }
      price { amount currencyCode } compareAtPrice { amount currencyCode }
    } } }
  }
}`;

export const COLLECTION = `query Collection($handle: String!) {
  collection(handle: $handle) { id title description products(first: 20) { edges { cursor node { ...Card } } pageInfo { hasNextPage endCursor } } }
}`;

export const LANDING = `query Landing {
  collections(first: 10) { edges { node { handle title image { url } } } }
  products(first: 20) {
    edges { cursor node { ...Card variants(first: 5) { edges { node { id title availableForSale price { amount currencyCode } } } } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const CATALOG_HEAVY = `query CatalogHeavy {
  products(first: 20) {
    edges { cursor node {
      id handle title description vendor productType tags availableForSale totalInventory
      featuredImage { url altText }
      priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
      collections(first: 3) { edges { node { handle title } } }
      variants(first: 10) { edges { node {
        id sku title availableForSale quantityAvailable selectedOptions { name value }
        price { amount currencyCode } compareAtPrice { amount currencyCode }
      } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const VARIANT_STOCK = `query VariantStock($id: ID!) {
  productVariant(id: $id) { id availableForSale quantityAvailable price { amount currencyCode } }
}`;

export const RECOMMENDATIONS = `query Recommendations($id: ID!) {
  productRecommendations(productId: $id) { ...Card }
}`;

export const CART_FIELDS = `fragment CartFields on Cart {
  id status totalQuantity updatedAt
  cost { subtotalAmount { amount currencyCode } totalAmount { amount currencyCode } }
  lines(first: 20) { edges { node { id quantity merchandise { ... on ProductVariant { id title price { amount } } } cost { totalAmount { amount } } } } }
}`;

export const CART = `query Cart($id: ID!) { cart(id: $id) { ...CartFields } }`;

export const CART_CREATE = `mutation CartCreate($input: CartInput!) {
  cartCreate(input: $input) { cart { ...CartFields } userErrors { field message code } warnings { code message target } }
}`;

export const CART_LINES_ADD = `mutation CartLinesAdd($cartId: ID!, $lines: [CartLineInput!]!) {
  cartLinesAdd(cartId: $cartId, lines: $lines) { cart { ...CartFields } userErrors { field message code } warnings { code message target } }
}`;

export const CART_LINES_UPDATE = `mutation CartLinesUpdate($cartId: ID!, $lines: [CartLineUpdateInput!]!) {
  cartLinesUpdate(cartId: $cartId, lines: $lines) { cart { ...CartFields } userErrors { field message code } warnings { code message target } }
}`;

export const CHECKOUT = `mutation Checkout($cartId: ID!, $payment: PaymentInput!, $key: String!) {
  cartCheckout(cartId: $cartId, payment: $payment, idempotencyKey: $key) {
    order { id name status financialStatus totalPrice { amount currencyCode }
            lineItems(first: 50) { edges { node { quantity variant { id } } } } }
    userErrors { field message code }
  }
}`;

export const ORDERS = `query Orders($first: Int!) {
  customer { id orders(first: $first) { edges { node {
    id name status processedAt totalPrice { amount currencyCode }
    lineItems(first: 5) { edges { node { title quantity } } }
  } } } }
}`;

export const SIGN_UP = `mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } userErrors { code message } } }`;

export const LOG_IN = `mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } userErrors { code message } } }`;
